# The Daytona API and runner simulator (daytona-sim/cmd/daytona-sim): a test
# double of Daytona for the demo and the tests, never for production.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o /out/daytona-sim ./daytona-sim/cmd/daytona-sim

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/daytona-sim /usr/local/bin/daytona-sim
ENTRYPOINT ["/usr/local/bin/daytona-sim"]
