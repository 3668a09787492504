"""chipmunk-server: the what's-my-IP API, hosted by cheroot."""
