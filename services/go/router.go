package main

// The route table (services/common/routes.py's, plus /metrics and /openapi.json) and how a
// request finds its route: by its path exactly as Starlette matches it, never cleaned or
// redirected (`//json` and `/json/` are 404), HEAD wherever GET is, 405 on a known path with
// another method, 404 elsewhere.

import (
	"net/http"
	"net/url"
	"strings"
)

// answer is a route's successful response.
type answer struct {
	status    int
	mediaType string
	body      []byte
}

// params is what a route reads from the request besides its body.
type params struct {
	rawQuery string
	id       string // /items/{id}
}

func (p params) query() map[string]string { return queryParams(p.rawQuery) }

type handler func(*http.Request, params) (answer, *apiError)

type route struct {
	method   string // GET (and so HEAD) or POST
	template string // Starlette's syntax: /items/{id}
	handle   handler
}

func (rt *route) allows(method string) bool {
	return method == rt.method || rt.method == http.MethodGet && method == http.MethodHead
}

func (rt *route) allowed() []string {
	if rt.method == http.MethodGet {
		return []string{http.MethodGet, http.MethodHead}
	}
	return []string{rt.method}
}

const itemPrefix = "/items/"

type router struct {
	static map[string]*route
	item   *route // the one template with a parameter: /items/{id}
	all    []*route
}

func newRouter(routes []route) *router {
	rt := &router{static: map[string]*route{}}
	for i := range routes {
		r := &routes[i]
		rt.all = append(rt.all, r)
		if r.template == itemPrefix+"{id}" {
			rt.item = r
		} else {
			rt.static[r.template] = r
		}
	}
	return rt
}

// match finds the route of a path as Starlette's regular expressions do (^/items/([^/]+)$),
// Python's `$` included: it also matches before a final newline, so "/json\n" is /json.
func (rt *router) match(path string) (*route, string) {
	if r, ok := rt.static[path]; ok {
		return r, ""
	}
	if rt.item != nil && strings.HasPrefix(path, itemPrefix) {
		if id := path[len(itemPrefix):]; id != "" && !strings.Contains(id, "/") {
			return rt.item, id
		}
	}
	if strings.HasSuffix(path, "\n") {
		if r, ok := rt.static[path[:len(path)-1]]; ok {
			return r, ""
		}
	}
	return nil, ""
}

// requestTarget is the path and query as uvicorn hands them to Starlette: the fragment cut off
// (Go keeps a '#' in the path of a request target), the path percent-decoded to text as
// Python decodes it.
func requestTarget(r *http.Request) (string, string) {
	path, query := r.URL.Path, r.URL.RawQuery
	if i := strings.IndexByte(r.RequestURI, '#'); i >= 0 {
		if u, err := url.ParseRequestURI(r.RequestURI[:i]); err == nil {
			path, query = u.Path, u.RawQuery
		}
	}
	return decodeUTF8Replace(path), query
}

var urlPathEscapes = strings.NewReplacer("?", "%3F", "#", "%23", "\\", "%5C")
var urlUnsafe = strings.NewReplacer("\t", "", "\r", "", "\n", "")

// starlettePath is request.url.path, which the 404's message quotes: Starlette escapes ?, # and
// \ to build the URL, urllib adds a leading slash and drops tabs and line breaks when it splits
// the URL again.
func starlettePath(path string) string {
	path = urlPathEscapes.Replace(path)
	if path != "" && path[0] != '/' {
		path = "/" + path
	}
	return urlUnsafe.Replace(path)
}
