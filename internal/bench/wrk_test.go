package bench

import (
	"errors"
	"testing"
)

const wrkReport = `Running 1s test @ http://127.0.0.1:19999/
  1 threads and 2 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     3.42ms    1.03ms   6.42ms   67.55%
    Req/Sec   569.50     51.77   710.00     90.00%
  Latency Distribution
     50%  713.00us
     75%    4.13ms
     90%    4.53ms
     99%    1.54s
  567 requests in 1.00s, 1.84MB read
  Socket errors: connect 0, read 2, write 1, timeout 3
  Non-2xx or 3xx responses: 12
Requests/sec:    566.76
Transfer/sec:      1.84MB
`

func TestParseWrk(t *testing.T) {
	r, err := ParseWrk(wrkReport)
	if err != nil {
		t.Fatal(err)
	}
	want := Result{RPS: 566.76, P50ms: 0.713, P99ms: 1540, Requests: 567, Non2xx: 12, Errors: 6}
	if r != want {
		t.Errorf("got %+v, want %+v", r, want)
	}
}

func TestParseWrkRefusesIncompleteReports(t *testing.T) {
	for _, out := range []string{"", "Requests/sec: 10\n", "unable to connect to 127.0.0.1:1 Connection refused"} {
		if _, err := ParseWrk(out); !errors.Is(err, ErrWrk) {
			t.Errorf("%q: err %v, want ErrWrk", out, err)
		}
	}
}
