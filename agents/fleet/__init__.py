"""Several feedwatch nodes as one: the fleet's cameras, queries and camera leases in PostgreSQL."""
