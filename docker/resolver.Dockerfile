# The resolver service (resolver-svc/cmd/resolver).
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o /out/resolver ./resolver-svc/cmd/resolver

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/resolver /usr/local/bin/resolver
ENTRYPOINT ["/usr/local/bin/resolver"]
