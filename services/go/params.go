package main

// Query and path parameters, parsed as pydantic parses them in the Python services
// (services/common/models.py): an integer from a string in pydantic's lax mode, with its
// bounds, and TechEmpower's `queries`, which is Python's int() clamped to 1..500.

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
)

// pyInt is an integer of any size, as far as this service needs one: its value when it fits
// an int64, and otherwise only its sign, since every bound here fits an int64.
type pyInt struct {
	value int64
	huge  int // +1 or -1 past an int64, else 0
}

func (n pyInt) less(bound int64) bool { return n.huge < 0 || n.huge == 0 && n.value < bound }
func (n pyInt) more(bound int64) bool { return n.huge > 0 || n.huge == 0 && n.value > bound }

// fromDigits makes a pyInt of ASCII digits (without underscores) and a sign.
func fromDigits(negative bool, digits string) pyInt {
	digits = strings.TrimLeft(digits, "0")
	sign := 1
	if negative {
		sign, digits = -1, "-"+digits
	}
	if value, err := strconv.ParseInt(digits, 10, 64); err == nil {
		return pyInt{value: value}
	}
	if digits == "" || digits == "-" {
		return pyInt{}
	}
	return pyInt{huge: sign}
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

type intSyntax int

const (
	intOK intSyntax = iota
	intInvalid
	intTooLong // more than 4300 characters of digits: Python's int_max_str_digits
)

// maxIntChars is the longest integer (sign and digits) that pydantic's JSON number parser
// (jiter) reads; Python refuses longer ones too (sys.int_info.default_max_str_digits).
const maxIntChars = 4300

// jsonInteger is jiter's NumberInt::try_from: the whole of s a JSON integer (no '+', no leading
// zero), or why not.
func jsonInteger(s string) (pyInt, intSyntax) {
	i, negative := 0, false
	if s != "" && s[0] == '-' {
		i, negative = 1, true
	}
	if i >= len(s) {
		return pyInt{}, intInvalid
	}
	if s[i] == '0' {
		if i+1 == len(s) {
			return pyInt{}, intOK
		}
		return pyInt{}, intInvalid
	}
	if s[i] < '1' || s[i] > '9' {
		return pyInt{}, intInvalid
	}
	end := i
	for end < len(s) && isDigit(s[end]) {
		end++
	}
	if end > maxIntChars { // counted from the start, sign included, before anything after
		return pyInt{}, intTooLong
	}
	if end != len(s) {
		return pyInt{}, intInvalid
	}
	return fromDigits(negative, s[i:end]), intOK
}

// laxInt is pydantic-core's str_as_int (src/input/shared.rs): a JSON integer, or else one
// after clean_int_str tidied it up (whitespace, a '+', leading zeros, a ".0" fraction,
// underscores between digits). The error is pydantic's type: int_parsing or int_parsing_size.
func laxInt(s string) (pyInt, string) {
	n, syntax := jsonInteger(s)
	switch syntax {
	case intOK:
		return n, ""
	case intTooLong:
		return pyInt{}, "int_parsing_size"
	}
	cleaned, ok := cleanIntStr(s)
	if !ok {
		return pyInt{}, "int_parsing"
	}
	if n, syntax = jsonInteger(cleaned); syntax != intOK {
		return pyInt{}, "int_parsing"
	}
	return n, ""
}

// cleanIntStr is pydantic-core's clean_int_str; ok is false where it gives up.
func cleanIntStr(s string) (string, bool) {
	before := len(s)
	s = strings.TrimFunc(s, unicode.IsSpace) // Rust's str::trim: Unicode White_Space
	if rest := strings.TrimPrefix(s, "+"); rest != s {
		if strings.HasPrefix(rest, "-") {
			return "", false
		}
		s = rest
	}
	negative := false
	if rest := strings.TrimPrefix(s, "-"); rest != s {
		if strings.HasPrefix(rest, "-") || strings.HasPrefix(rest, "+") {
			return "", false
		}
		negative, s = true, rest
	}
	s, ok := stripLeadingZeros(s)
	if !ok {
		return "", false
	}
	if i := strings.IndexByte(s, '.'); i >= 0 {
		if fraction := s[i+1:]; fraction != "" && strings.Trim(fraction, "0") == "" {
			s = s[:i]
		}
	}
	sign := ""
	if negative {
		sign = "-"
	}
	if !strings.HasPrefix(s, "_") && !strings.HasSuffix(s, "_") && strings.Contains(s, "_") &&
		!strings.Contains(s, "__") {
		return sign + strings.ReplaceAll(s, "_", ""), true
	}
	if len(s) == before {
		return "", false
	}
	return sign + s, true
}

// stripLeadingZeros is pydantic-core's strip_leading_zeros: "000" is "0", "00.0" is "0.0",
// "0_1" is "1"; anything but a digit or '-' first gives up.
func stripLeadingZeros(s string) (string, bool) {
	if s == "" {
		return "", false
	}
	switch c := s[0]; {
	case c == '0':
	case c >= '1' && c <= '9' || c == '-':
		return s, true
	default:
		return "", false
	}
	for i := 1; i < len(s); i++ {
		switch c := s[i]; {
		case c == '0' || c == '_':
		case c >= '1' && c <= '9' || c == '-':
			return s[i:], true
		case c == '.':
			return s[i-1:], true
		default:
			return "", false
		}
	}
	return s[len(s)-1:], true
}

// intParam validates one integer parameter as a pydantic Field(default, ge, le) does. raw is
// nil when the parameter is absent.
type intParam struct {
	name     string
	def      int64
	ge, le   int64
	location string // "query" or "path"
}

func (p intParam) parse(raw *string) (int64, *issue) {
	if raw == nil {
		return p.def, nil
	}
	n, kind := laxInt(*raw)
	switch {
	case kind == "int_parsing":
		return 0, &issue{p.name, p.location, kind, "Input should be a valid integer, unable to parse string as an integer"}
	case kind == "int_parsing_size":
		return 0, &issue{p.name, p.location, kind, "Unable to parse input string as an integer, exceeded maximum size"}
	case n.less(p.ge):
		return 0, &issue{p.name, p.location, "greater_than_equal", fmt.Sprintf("Input should be greater than or equal to %d", p.ge)}
	case n.more(p.le):
		return 0, &issue{p.name, p.location, "less_than_equal", fmt.Sprintf("Input should be less than or equal to %d", p.le)}
	}
	return n.value, nil
}

// parseQuery validates a route's integer query parameters together: every failing one is
// named, in the model's field order, as pydantic reports them.
func parseQuery(query map[string]string, params ...intParam) ([]int64, *apiError) {
	values := make([]int64, len(params))
	var problems []issue
	for i, p := range params {
		var raw *string
		if v, ok := query[p.name]; ok {
			raw = &v
		}
		value, problem := p.parse(raw)
		if problem != nil {
			problems = append(problems, *problem)
		}
		values[i] = value
	}
	if problems != nil {
		return nil, validationError(problems)
	}
	return values, nil
}

// clampQueries is TechEmpower's rule (work.clamp_queries): Python's int() of the value, 1 where
// that fails or the value is missing, clamped to 1..500.
func clampQueries(query map[string]string) int {
	raw, ok := query["queries"]
	if !ok {
		return 1
	}
	n, ok := pythonInt(raw)
	switch {
	case !ok || n.less(1):
		return 1
	case n.more(500):
		return 500
	}
	return int(n.value)
}

// pythonInt is int(text) in base 10: CPython first maps non-ASCII whitespace to ' ' and
// non-ASCII decimal digits to ASCII ones (_PyUnicode_TransformDecimalAndSpaceToASCII), then
// reads ASCII whitespace, a sign, digits with single underscores between them, whitespace.
func pythonInt(text string) (pyInt, bool) {
	ascii := make([]byte, 0, len(text))
	for _, r := range text {
		switch {
		case r < 127:
			ascii = append(ascii, byte(r))
		case unicode.IsSpace(r):
			ascii = append(ascii, ' ')
		default:
			d := decimalValue(r)
			if d < 0 {
				return pyInt{}, false
			}
			ascii = append(ascii, byte('0'+d))
		}
	}
	s := strings.Trim(string(ascii), " \t\n\v\f\r")
	negative := false
	if s != "" && (s[0] == '+' || s[0] == '-') {
		negative, s = s[0] == '-', s[1:]
	}
	if s == "" || !isDigit(s[0]) || !isDigit(s[len(s)-1]) {
		return pyInt{}, false
	}
	digits := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case isDigit(c):
			digits = append(digits, c)
		case c == '_' && isDigit(s[i+1]): // the last character is a digit, so s[i+1] exists
		default:
			return pyInt{}, false
		}
	}
	if len(digits) > maxIntChars {
		return pyInt{}, false
	}
	return fromDigits(negative, string(digits)), true
}

// decimalValue is the digit a Unicode decimal digit (category Nd) stands for, or -1. Nd digits
// come in runs of ten from zero. Python 3.11 has Unicode 14, Go 1.19 Unicode 13: the one run
// Unicode 14 added (Tangsa) is added here.
func decimalValue(r rune) int {
	if r >= 0x16AC0 && r <= 0x16AC9 {
		return int(r - 0x16AC0)
	}
	for _, run := range unicode.Nd.R16 {
		if rune(run.Lo) <= r && r <= rune(run.Hi) {
			return int(r-rune(run.Lo)) % 10
		}
	}
	for _, run := range unicode.Nd.R32 {
		if rune(run.Lo) <= r && r <= rune(run.Hi) {
			return int(r-rune(run.Lo)) % 10
		}
	}
	return -1
}
