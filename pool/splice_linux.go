package pool

// spliceWorks: Go's TCPConn.ReadFrom splices between sockets on Linux.
const spliceWorks = true
