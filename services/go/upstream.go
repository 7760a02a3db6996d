package main

// The slow upstream (services/upstream/app.py) through one keep-alive pool of
// SERVICE_HTTP_POOL_SIZE connections, as services/common/upstream.py configures urllib3 and aiohttp.

import (
	"io"
	"net"
	"net/http"
	"strconv"
	"time"
)

// callTimeout bounds one call: a call waits at most 5 s by the time budget.
const callTimeout = 15 * time.Second

type upstream struct {
	url    string
	client *http.Client
}

func newUpstream(cfg config) *upstream {
	dialer := &net.Dialer{Timeout: cfg.connectTimeout, KeepAlive: 30 * time.Second}
	transport := &http.Transport{
		DialContext:         dialer.DialContext,
		MaxConnsPerHost:     cfg.httpPoolSize,
		MaxIdleConns:        cfg.httpPoolSize,
		MaxIdleConnsPerHost: cfg.httpPoolSize,
		IdleConnTimeout:     90 * time.Second,
		ForceAttemptHTTP2:   false,
	}
	return &upstream{url: cfg.upstreamURL, client: &http.Client{Transport: transport, Timeout: callTimeout}}
}

// call is GET /delay?ms=N; anything but a 2xx answer read to its end is the contract's 502.
func (u *upstream) call(ms int64) *apiError {
	response, err := u.client.Get(u.url + "/delay?ms=" + strconv.FormatInt(ms, 10))
	if err != nil {
		return upstreamUnavailable()
	}
	defer response.Body.Close()
	// Read to the end, so that the connection goes back to the pool.
	if _, err := io.Copy(io.Discard, response.Body); err != nil || response.StatusCode/100 != 2 {
		return upstreamUnavailable()
	}
	return nil
}

// fanout makes its calls all at once, one goroutine each, and answers with the first failure
// as soon as there is one (as asyncio.gather does; the other calls still run to their end).
func (u *upstream) fanout(calls, ms int64) (float64, *apiError) {
	start := time.Now()
	results := make(chan *apiError, calls)
	for i := int64(0); i < calls; i++ {
		go func() { results <- u.call(ms) }()
	}
	for i := int64(0); i < calls; i++ {
		if err := <-results; err != nil {
			return 0, err
		}
	}
	elapsed := float64(time.Since(start).Nanoseconds()) / 1e6
	// round(elapsed, 3): Python rounds the exact value to 3 decimals, as strconv does.
	rounded, _ := strconv.ParseFloat(strconv.FormatFloat(elapsed, 'f', 3, 64), 64)
	return rounded, nil
}
