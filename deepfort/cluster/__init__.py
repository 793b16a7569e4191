"""Edge <-> center over gRPC: the protocol, SM4-GCM envelopes, the center's service and the edge's client."""
