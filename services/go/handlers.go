package main

// What each route answers: services/common/routes.py's table, with the Python services'
// parameters, bodies and media types.

import (
	"io"
	"net/http"
	"strings"
	"time"
)

const (
	mediaJSON = "application/json"
	mediaText = "text/plain; charset=utf-8"
	mediaHTML = "text/html; charset=utf-8"
	maxWaitMS = 5000
)

var (
	workPython = intParam{"work", 100_000, 1, 10_000_000, "query"}
	workNative = intParam{"work", 40_000, 1, 1_000_000, "query"}
	waitMS     = intParam{"ms", 50, 0, maxWaitMS, "query"}
	fanoutN    = intParam{"calls", 5, 1, 50, "query"}
	itemID     = intParam{"id", 0, 1, 1<<31 - 1, "path"}
)

func jsonAnswer(status int, body []byte) answer { return answer{status, mediaJSON, body} }

func object(key, value string) []byte {
	w := &jsonWriter{buf: make([]byte, 0, 32)}
	return w.raw("{").key(key).str(value).raw("}").buf
}

func waited(ms int64) []byte {
	w := &jsonWriter{buf: make([]byte, 0, 16)}
	return w.raw("{").key("ms").int(ms).raw("}").buf
}

func (s *service) routes() []route {
	routes := []route{
		{"GET", "/json", s.hello},
		{"GET", "/plaintext", s.plaintext},
		{"GET", "/db", s.world},
		{"GET", "/queries", s.worlds},
		{"GET", "/updates", s.updateWorlds},
		{"GET", "/fortunes", s.fortunes},
		{"GET", "/cpu/python", s.cpuPython},
		{"GET", "/cpu/native", s.cpuNative},
		{"GET", "/io/db", s.sleepInDatabase},
		{"GET", "/io/upstream", s.callUpstream},
		{"GET", "/io/sleep", s.pause},
		{"GET", "/fanout", s.fanout},
		{"GET", "/pitfall/blocking", s.blockingSleep},
		{"POST", "/items", s.createItem},
		{"GET", "/items/{id}", s.getItem},
		{"GET", "/healthz", s.healthz},
		{"GET", "/readyz", s.readyz},
		{"GET", "/openapi.json", s.openapiDocument},
	}
	if s.metrics != nil {
		routes = append(routes, route{"GET", "/metrics", s.metrics.handle})
	}
	return routes
}

// hello encodes a new object for every request, as TechEmpower's JSON test asks.
func (s *service) hello(*http.Request, params) (answer, *apiError) {
	return jsonAnswer(200, object("message", "Hello, World!")), nil
}

var helloText = []byte("Hello, World!")

func (s *service) plaintext(*http.Request, params) (answer, *apiError) {
	return answer{200, mediaText, helloText}, nil
}

func (s *service) healthz(*http.Request, params) (answer, *apiError) {
	return jsonAnswer(200, object("status", "ok")), nil
}

func (s *service) readyz(*http.Request, params) (answer, *apiError) {
	if err := s.db.ping(); err != nil {
		return answer{}, err
	}
	return jsonAnswer(200, object("status", "ready")), nil
}

func (s *service) openapiDocument(*http.Request, params) (answer, *apiError) {
	return jsonAnswer(200, s.openapi), nil
}

func (s *service) world(*http.Request, params) (answer, *apiError) {
	w, err := s.db.world()
	if err != nil {
		return answer{}, err
	}
	return jsonAnswer(200, w.json()), nil
}

func (s *service) worlds(_ *http.Request, p params) (answer, *apiError) {
	worlds, err := s.db.worlds(clampQueries(p.query()))
	if err != nil {
		return answer{}, err
	}
	return jsonAnswer(200, worldsJSON(worlds)), nil
}

func (s *service) updateWorlds(_ *http.Request, p params) (answer, *apiError) {
	worlds, err := s.db.updateWorlds(clampQueries(p.query()))
	if err != nil {
		return answer{}, err
	}
	return jsonAnswer(200, worldsJSON(worlds)), nil
}

func (s *service) fortunes(*http.Request, params) (answer, *apiError) {
	rows, err := s.db.fortunes()
	if err != nil {
		return answer{}, err
	}
	return answer{200, mediaHTML, []byte(renderFortunes(rows))}, nil
}

func workResult(work int64, result func(*jsonWriter)) []byte {
	w := &jsonWriter{buf: make([]byte, 0, 96)}
	w.raw("{").key("work").int(work).key("result")
	result(w)
	return w.raw("}").buf
}

// cpuPython runs the LCG of /cpu/python; compiled, it is ~80 times cheaper a step than in
// Python (docs/contract.md).
func (s *service) cpuPython(_ *http.Request, p params) (answer, *apiError) {
	values, err := parseQuery(p.query(), workPython)
	if err != nil {
		return answer{}, err
	}
	result := lcg(values[0])
	return jsonAnswer(200, workResult(values[0], func(w *jsonWriter) { w.int(result) })), nil
}

func (s *service) cpuNative(_ *http.Request, p params) (answer, *apiError) {
	values, err := parseQuery(p.query(), workNative)
	if err != nil {
		return answer{}, err
	}
	result := pbkdf2Hex(int(values[0]))
	return jsonAnswer(200, workResult(values[0], func(w *jsonWriter) { w.str(result) })), nil
}

func (s *service) sleepInDatabase(_ *http.Request, p params) (answer, *apiError) {
	values, err := parseQuery(p.query(), waitMS)
	if err != nil {
		return answer{}, err
	}
	if err := s.db.sleep(values[0]); err != nil {
		return answer{}, err
	}
	return jsonAnswer(200, waited(values[0])), nil
}

func (s *service) callUpstream(_ *http.Request, p params) (answer, *apiError) {
	values, err := parseQuery(p.query(), waitMS)
	if err != nil {
		return answer{}, err
	}
	if err := s.up.call(values[0]); err != nil {
		return answer{}, err
	}
	return jsonAnswer(200, waited(values[0])), nil
}

// pause is a wait with nothing behind it: time.Sleep parks the request's goroutine, which holds
// no thread, so only memory bounds how many wait at once.
func (s *service) pause(_ *http.Request, p params) (answer, *apiError) {
	values, err := parseQuery(p.query(), waitMS)
	if err != nil {
		return answer{}, err
	}
	time.Sleep(time.Duration(values[0]) * time.Millisecond)
	return jsonAnswer(200, waited(values[0])), nil
}

func (s *service) fanout(_ *http.Request, p params) (answer, *apiError) {
	values, err := parseQuery(p.query(), fanoutN, waitMS)
	if err != nil {
		return answer{}, err
	}
	calls, ms := values[0], values[1]
	if calls*ms > maxWaitMS {
		return answer{}, waitBudget(calls, ms)
	}
	elapsed, err := s.up.fanout(calls, ms)
	if err != nil {
		return answer{}, err
	}
	w := &jsonWriter{buf: make([]byte, 0, 80)}
	w.raw("{").key("calls").int(calls).key("ms").int(ms).key("mode").str("concurrent").
		key("elapsed_ms").float(elapsed)
	return jsonAnswer(200, w.raw("}").buf), nil
}

// blockingSleep is time.Sleep, as in the Python services; here it parks one goroutine and
// nothing else waits for it: Go has no event loop to block (docs/contract.md).
func (s *service) blockingSleep(_ *http.Request, p params) (answer, *apiError) {
	values, err := parseQuery(p.query(), waitMS)
	if err != nil {
		return answer{}, err
	}
	time.Sleep(time.Duration(values[0]) * time.Millisecond)
	return jsonAnswer(200, waited(values[0])), nil
}

func (s *service) getItem(_ *http.Request, p params) (answer, *apiError) {
	id, problem := itemID.parse(&p.id)
	if problem != nil {
		return answer{}, validationError([]issue{*problem})
	}
	row, err := s.db.getItem(id)
	if err != nil {
		return answer{}, err
	}
	return jsonAnswer(200, row.json()), nil
}

// errMalformedBody is a body Go's server could not read (bad chunked framing, a client gone):
// refused in the server's words, as uvicorn refuses it in its own.
var errMalformedBody = &apiError{status: 400}

// createItem checks in the Python services' order: the declared size, the size read, the
// media type, the JSON, the rules; then inserts.
func (s *service) createItem(r *http.Request, _ params) (answer, *apiError) {
	if r.ContentLength > maxBodyBytes {
		return answer{}, payloadTooLarge()
	}
	body, readErr := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes+1))
	if readErr != nil {
		return answer{}, errMalformedBody
	}
	if len(body) > maxBodyBytes {
		return answer{}, payloadTooLarge()
	}
	if mimetype := mediaType(r.Header["Content-Type"]); mimetype != mediaJSON {
		return answer{}, unsupportedMediaType(mimetype)
	}
	parsed, err := parseJSON(body)
	if err != nil {
		return answer{}, malformedJSON()
	}
	it, problem := validateItem(parsed)
	if problem != nil {
		return answer{}, problem
	}
	row, problem := s.db.insertItem(it)
	if problem != nil {
		return answer{}, problem
	}
	return jsonAnswer(201, row.json()), nil
}

// mediaType is errors.parse_body's reading of the first Content-Type: Starlette decodes the
// value as latin-1, Python splits off the parameters, strips and lowers it.
func mediaType(values []string) string {
	if len(values) == 0 {
		return ""
	}
	mimetype, _, _ := strings.Cut(latin1(values[0]), ";")
	return strings.ToLower(pyStrip(mimetype))
}
