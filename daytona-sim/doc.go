// Package daytonasim is the root of the Daytona simulator: a faithful test
// double of the Daytona API (v0.190.0) and of Daytona runners, used by the
// demo stack and by previewgate's end-to-end tests. It is NOT a Daytona
// implementation and has no production use.
//
// Packages:
//
//   - world:   the in-memory state (runners, users, sandboxes, signed preview tokens)
//   - api:     the Daytona API endpoints the preview proxy and SDKs call, plus the
//     /_sim/ control endpoints (call counters, faults, sandbox management)
//   - runner:  a Daytona runner (auth, /sandboxes/{id}/toolbox/... routing, a
//     per-sandbox "container" listener standing in for Docker)
//   - daemon:  the in-sandbox daemon (toolbox API, /proxy/{port}/... to the apps)
//   - demoapp: the app every sandbox port serves (HTML page, echo, WebSocket, SSE)
//   - sim:     wires everything together on real listeners (used by cmd/daytona-sim
//     and by tests that run the simulator in-process)
package daytonasim
