.PHONY: run test bench bench-check help

help: ## list the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

run: ## run the demo gateway: Traefik + plugin + resolver + Daytona simulator
	GOPROXY=https://proxy.golang.org go run ./cmd/devstack

test: ## run every test (builds Traefik and Yaegi into the Go cache first)
	scripts/test.sh

bench: ## measure through the real Traefik: table, bench/results/*.json and *.png
	scripts/prereqs.sh wrk
	GOPROXY=https://proxy.golang.org go run ./cmd/bench

bench-check: ## measure, then fail loudly when a hot-path budget is missed
	scripts/prereqs.sh wrk
	GOPROXY=https://proxy.golang.org go run ./cmd/bench -check
