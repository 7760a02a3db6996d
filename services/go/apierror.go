package main

// The contract's error body and every answer that carries it, worded as
// services/common/errors.py words them:
//
//	{"error": "validation_error",
//	 "detail": [{"field": "work", "in": "query", "type": "less_than_equal", "message": "..."}]}

import (
	"fmt"
	"sort"
	"strings"
)

// issue is one entry of "detail".
type issue struct {
	field, where, kind, message string
}

// apiError is an answer with the contract's error body.
type apiError struct {
	status int
	error  string
	detail []issue
	allow  string // the Allow header of a 405
}

// Error makes an apiError an error, so that a database callback can return one (a 404).
func (e *apiError) Error() string { return e.error }

func (e *apiError) body() []byte {
	w := &jsonWriter{buf: make([]byte, 0, 160)}
	w.raw("{").key("error").str(e.error).key("detail").raw("[")
	for i, d := range e.detail {
		if i > 0 {
			w.raw(",")
		}
		w.raw("{").key("field").str(d.field).key("in").str(d.where).
			key("type").str(d.kind).key("message").str(d.message).raw("}")
	}
	return w.raw("]}").buf
}

func validationError(detail []issue) *apiError {
	return &apiError{status: 422, error: "validation_error", detail: detail}
}

func routeNotFound(path string) *apiError {
	return &apiError{404, "not_found", []issue{{"path", "path", "not_found", "no route for " + path}}, ""}
}

func itemNotFound(id int64) *apiError {
	return &apiError{404, "not_found", []issue{{"id", "path", "not_found", fmt.Sprintf("no item %d", id)}}, ""}
}

// methodNotAllowed lists the allowed methods sorted, as errors.method_not_allowed does.
func methodNotAllowed(method string, allowed []string) *apiError {
	methods := append([]string(nil), allowed...)
	sort.Strings(methods)
	list := strings.Join(methods, ", ")
	message := method + " is not allowed here; use " + list
	return &apiError{405, "method_not_allowed", []issue{{"method", "request", "not_allowed", message}}, list}
}

func payloadTooLarge() *apiError {
	message := fmt.Sprintf("the body is larger than %d bytes", maxBodyBytes)
	return &apiError{413, "payload_too_large", []issue{{"body", "body", "too_large", message}}, ""}
}

func unsupportedMediaType(mimetype string) *apiError {
	if mimetype == "" {
		mimetype = "nothing"
	}
	message := "send the body as application/json, not " + mimetype
	return &apiError{415, "unsupported_media_type", []issue{{"content-type", "header", "unsupported_media_type", message}}, ""}
}

func malformedJSON() *apiError {
	return &apiError{400, "malformed_json", []issue{{"body", "body", "json_invalid", "the body is not valid JSON"}}, ""}
}

func databaseUnavailable() *apiError {
	return &apiError{503, "database_unavailable", []issue{{"database", "dependency", "unavailable", "the database did not answer in time"}}, ""}
}

func upstreamUnavailable() *apiError {
	return &apiError{502, "upstream_unavailable", []issue{{"upstream", "dependency", "unavailable", "the upstream did not answer"}}, ""}
}

func requestLineTooLong() *apiError {
	message := fmt.Sprintf("the request line is longer than %d bytes; shorten the URL", maxRequestLine)
	return &apiError{414, "uri_too_long", []issue{{"url", "request", "too_long", message}}, ""}
}

// headerFieldsTooLarge is one answer for both field limits, as gunicorn gives.
func headerFieldsTooLarge() *apiError {
	message := fmt.Sprintf("send at most %d header fields of at most %d bytes each", maxHeaderFields, maxHeaderFieldBytes)
	return &apiError{431, "header_fields_too_large", []issue{{"headers", "header", "too_large", message}}, ""}
}

func repeatedHeader(name string) *apiError {
	return &apiError{400, "repeated_header", []issue{{name, "header", "repeated", "send one " + name + " header, not several"}}, ""}
}

func internalError() *apiError {
	return &apiError{500, "internal_error", []issue{{"server", "server", "internal_error", "unexpected server error"}}, ""}
}

// waitBudget is /fanout's calls x ms past the longest wait: one 422 naming both parameters.
func waitBudget(calls, ms int64) *apiError {
	message := fmt.Sprintf("calls x ms should be at most %d (the longest wait of one request), not %d x %d = %d",
		maxWaitMS, calls, ms, calls*ms)
	return validationError([]issue{{"calls", "query", "wait_budget", message}, {"ms", "query", "wait_budget", message}})
}
