"""Questions over footage: time and camera phrases, retrieval from memory and buffers, frame selection, the
answering models, and the answers with their citations."""

from __future__ import annotations

from typing import TYPE_CHECKING

from streamer.lazy import lazy_exports

if TYPE_CHECKING:
    from .answer import Answer as Answer
    from .answer import Citation as Citation
    from .answering import QAFrame as QAFrame
    from .answering import VideoQA as VideoQA
    from .answering import create_videoqa as create_videoqa
    from .asker import MAX_QUESTION as MAX_QUESTION
    from .asker import Asker as Asker
    from .retrieval import Candidate as Candidate
    from .selection import Selection as Selection
    from .selection import selection_for as selection_for
    from .timeparse import QuestionFilter as QuestionFilter
    from .timeparse import parse_question as parse_question

else:  # type checkers see the imports above; at run time each name loads on first use
    __all__, __getattr__ = lazy_exports(
        __name__,
        {
            "answer": ("Answer", "Citation"),
            "answering": ("QAFrame", "VideoQA", "create_videoqa"),
            "asker": ("MAX_QUESTION", "Asker"),
            "retrieval": ("Candidate",),
            "selection": ("Selection", "selection_for"),
            "timeparse": ("QuestionFilter", "parse_question"),
        },
    )
