"""chipmunk-client: learns the public address and keeps DNS records on it."""
