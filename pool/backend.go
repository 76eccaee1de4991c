package pool

// Backend is a member's connection pool to its backend. The server package
// creates it (see server/backend.go owner notes); pool only carries it.
type Backend struct{}
