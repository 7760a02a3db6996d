package main

// The request-head limits of docs/contract.md (services/common/limits.py: gunicorn's defaults),
// enforced by the service itself, first thing, with the contract's answers, as the FastAPI
// service does (services/fastapi/limits.py).
//
// Go's server has parsed the head by then, and only what it kept can be counted: it merges
// repeated fields under one canonical name (their count survives, their order does not), keeps
// Host apart in r.Host (a repeated Host is not visible at all: Go takes the first), takes
// Transfer-Encoding out of the fields (and Content-Length with it when chunked), and adds a
// Cache-Control: no-cache of its own beside a Pragma: no-cache. So the count is an estimate,
// one-sided like the Flask-under-granian one: nothing gunicorn takes is refused.

import "net/http"

const (
	maxRequestLine      = 4094 // bytes of "METHOD target HTTP/1.1", without its CRLF
	maxHeaderFields     = 100
	maxHeaderFieldBytes = 8190 // bytes of "Name: value" with its CRLF
	fieldOverhead       = len(": \r\n")
)

// headRefusal is what gunicorn would refuse this request's head for, or nil: the request line,
// then the fields (too many, one too long), then a repeated Content-Type. Without the fields'
// order, a head past two limits gets the first answer of that list.
func headRefusal(r *http.Request) *apiError {
	if len(r.Method)+1+len(r.RequestURI)+1+len(r.Proto) > maxRequestLine {
		return requestLineTooLong()
	}
	fields, tooLong := 0, false
	count := func(name, value string) {
		fields++
		if len(name)+len(value)+fieldOverhead > maxHeaderFieldBytes {
			tooLong = true
		}
	}
	for name, values := range r.Header {
		for _, value := range values {
			count(name, value)
		}
	}
	// HTTP/1.1 requires one Host field (Go refuses a request without); an absolute-form target's
	// authority stands in for its value.
	if r.ProtoAtLeast(1, 1) || r.Host != "" && r.URL.Host == "" {
		count("Host", r.Host)
	}
	if len(r.TransferEncoding) > 0 {
		count("Transfer-Encoding", r.TransferEncoding[0])
	}
	if pragma := r.Header["Pragma"]; len(pragma) > 0 && pragma[0] == "no-cache" {
		if cc := r.Header["Cache-Control"]; len(cc) == 1 && cc[0] == "no-cache" {
			fields-- // possibly Go's own (net/http fixPragmaCacheControl): counted as Go's
		}
	}
	if fields > maxHeaderFields || tooLong {
		return headerFieldsTooLarge()
	}
	if len(r.Header["Content-Type"]) > 1 {
		return repeatedHeader("content-type")
	}
	return nil
}
