package plugin

import (
	"crypto/sha256"
	"crypto/subtle"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"
)

// resolverClient calls the resolver's decision endpoint.
type resolverClient struct {
	base   string // the resolver's base URL, without a trailing slash
	secret []string
	client *http.Client
	dgram  *dgramClient // nil: HTTP only
}

// Transports (and so their connection pools) are shared per resolver URL at
// package level, so that Traefik's configuration rebuilds, which call New
// again, do not open new pools.
var (
	transportsMu sync.Mutex
	transports   = map[string]*http.Transport{}
)

func sharedTransport(base string) *http.Transport {
	transportsMu.Lock()
	defer transportsMu.Unlock()
	t := transports[base]
	if t == nil {
		t = &http.Transport{
			MaxIdleConns:        512,
			MaxIdleConnsPerHost: 512,
			IdleConnTimeout:     90 * time.Second,
			// Decisions have no body: no Accept-Encoding, no gzip.
			DisableCompression: true,
		}
		transports[base] = t
	}
	return t
}

// holdsSecret reports whether a request header value is the shared secret.
// Digests are compared, as the resolver does: ConstantTimeCompare returns
// at once for a value of another length, which would tell the secret's.
func (c *resolverClient) holdsSecret(v []string) bool {
	if len(v) != 1 {
		return false
	}
	got, want := sha256.Sum256([]byte(v[0])), sha256.Sum256([]byte(c.secret[0]))
	return subtle.ConstantTimeCompare(got[:], want[:]) == 1
}

func newResolverClient(base, secret string, timeout time.Duration) *resolverClient {
	return &resolverClient{
		base:   base,
		secret: []string{secret},
		client: &http.Client{
			Transport: sharedTransport(base),
			Timeout:   timeout,
			// A redirect from the resolver is a decision to pass on
			// (a login redirect), never one to follow.
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse
			},
		},
	}
}

// decide asks the resolver for t's decision on req, which presented cr
// (nil: no credentials).
func decide(c *resolverClient, req *http.Request, t *target, cr *credentials) (*http.Response, error) {
	out, err := http.NewRequestWithContext(req.Context(), http.MethodGet, t.url, nil)
	if err != nil {
		return nil, err
	}
	h := out.Header
	h[HeaderKey] = c.secret
	h["User-Agent"] = noUserAgent
	h[HeaderRequest] = []string{requestLine(req)}
	if cr != nil {
		addCredentials(h, req, cr)
	}
	if skipsActivity(req.Header) {
		h[HeaderSkipActivity] = skipActivityValue
	}
	return c.client.Do(out)
}

// addCredentials adds what the client presented to a decision request.
func addCredentials(h http.Header, req *http.Request, cr *credentials) {
	if cr.bearer != "" {
		// The client's address goes with the user's token to the API's
		// access check, the only place that reads it.
		h[HeaderBearer] = []string{cr.bearer}
		h[HeaderClientIP] = []string{clientIP(req.RemoteAddr)}
	}
	if cr.previewToken != "" {
		h[HeaderPreviewToken] = []string{cr.previewToken}
	}
	if cr.queryToken != "" {
		h[HeaderQueryToken] = []string{cr.queryToken}
	}
	if cr.cookie != "" {
		h[HeaderCookie] = []string{cr.cookie}
	}
}

// Header values that never change are shared, read-only slices: the
// transport only reads them.
var (
	noUserAgent       = []string{""} // an empty User-Agent is not sent
	skipActivityValue = []string{"true"}
)

// requestLine is the client's request line as a decision request carries
// it ("METHOD host request-URI"), cut to MaxRequestLine.
func requestLine(req *http.Request) string {
	line := req.Method + " " + req.Host + " " + req.URL.RequestURI()
	if len(line) > MaxRequestLine {
		return line[:MaxRequestLine]
	}
	return line
}

// reportActivity tells the resolver that the sandbox is in use (best
// effort: a failure waits for the next report).
func reportActivity(c *resolverClient, sandbox string) {
	req, err := http.NewRequest(http.MethodPost, c.base+ActivityPath+"/"+sandbox, nil)
	if err != nil {
		return
	}
	req.Header[HeaderKey] = c.secret
	resp, err := c.client.Do(req)
	if err != nil {
		return
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
}

// clientIP is the host part of a RemoteAddr ("1.2.3.4:5678", "[::1]:80").
func clientIP(addr string) string {
	if i := strings.LastIndexByte(addr, ':'); i >= 0 && strings.IndexByte(addr[i:], ']') < 0 {
		addr = addr[:i]
	}
	if len(addr) > 1 && addr[0] == '[' && addr[len(addr)-1] == ']' {
		addr = addr[1 : len(addr)-1]
	}
	return addr
}
