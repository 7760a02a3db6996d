package main

// The service's own http.Handler (not ServeMux, which cleans paths and redirects): the
// request-head limits first, then the route, each answer with the Server header and its
// Content-Length, counted in the metrics as FastAPI's middleware counts.

import (
	"log"
	"net/http"
	"strconv"
	"time"
)

type service struct {
	db      *database
	up      *upstream
	metrics *metrics // nil when SERVICE_METRICS_ENABLED=false
	openapi []byte
	router  *router
	server  []string // the Server header
}

var closeHeader = []string{"close"}

func (s *service) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header()["Server"] = s.server
	// Outside the metrics: what gunicorn refuses never reaches Flask's metrics either.
	if refusal := headRefusal(r); refusal != nil {
		w.Header()["Connection"] = closeHeader
		s.writeError(w, r, refusal)
		return
	}
	path, rawQuery := requestTarget(r)
	rt, id := s.router.match(path)
	if s.metrics == nil || path == "/metrics" { // scrapes are not traffic
		s.dispatch(w, r, rt, params{rawQuery, id}, path)
		return
	}
	s.metrics.inFlight.Inc()
	start := time.Now()
	status := http.StatusInternalServerError
	defer func() {
		label := unmatchedRoute
		if rt != nil {
			label = rt.template
		}
		s.metrics.observe(label, r.Method, status, time.Since(start))
		s.metrics.inFlight.Dec()
	}()
	status = s.dispatch(w, r, rt, params{rawQuery, id}, path)
}

// dispatch answers the request and returns its status.
func (s *service) dispatch(w http.ResponseWriter, r *http.Request, rt *route, p params, path string) (status int) {
	if rt == nil {
		return s.writeError(w, r, routeNotFound(starlettePath(path)))
	}
	if !rt.allows(r.Method) {
		return s.writeError(w, r, methodNotAllowed(r.Method, rt.allowed()))
	}
	defer func() {
		if failure := recover(); failure != nil {
			if failure == http.ErrAbortHandler {
				panic(failure)
			}
			log.Printf("unhandled error on %s %s: %v", r.Method, r.URL.Path, failure)
			status = s.writeError(w, r, internalError())
		}
	}()
	ans, err := rt.handle(r, p)
	if err != nil {
		return s.writeError(w, r, err)
	}
	s.write(w, r, ans.status, ans.mediaType, ans.body)
	return ans.status
}

func (s *service) writeError(w http.ResponseWriter, r *http.Request, err *apiError) int {
	if err == errMalformedBody {
		w.Header()["Connection"] = closeHeader
		s.write(w, r, http.StatusBadRequest, mediaText, []byte("400 Bad Request: malformed body"))
		return http.StatusBadRequest
	}
	if err.allow != "" {
		w.Header()["Allow"] = []string{err.allow}
	}
	s.write(w, r, err.status, mediaJSON, err.body())
	return err.status
}

// write sends one whole answer; a HEAD gets its headers only, Content-Length included.
func (s *service) write(w http.ResponseWriter, r *http.Request, status int, mediaType string, body []byte) {
	header := w.Header()
	header["Content-Type"] = []string{mediaType}
	header["Content-Length"] = []string{strconv.Itoa(len(body))}
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		w.Write(body) //nolint:errcheck // a client gone is no error of ours
	}
}
