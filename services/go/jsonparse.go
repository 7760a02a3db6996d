package main

// A JSON parser that accepts exactly what pydantic's (jiter, with allow_inf_nan) accepts, so
// that a body is malformed (400) here exactly when it is in the Python services, and that the
// values it holds are the ones pydantic validates. What differs from encoding/json: NaN,
// Infinity and -Infinity are numbers; an integer part past 4300 characters is an error; at
// most 200 non-empty arrays or objects nest; a repeated key keeps its first place and takes
// its last value, as a Python dict built from the pairs does.

import (
	"errors"
	"math"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

type jsonKind uint8

const (
	jsonNull jsonKind = iota
	jsonBool
	jsonInt   // n holds it (huge past an int64), s its text
	jsonFloat // f holds it
	jsonString
	jsonArray
	jsonObject
)

type jsonValue struct {
	kind  jsonKind
	b     bool
	n     pyInt
	f     float64
	s     string
	items []jsonValue
	keys  []string // an object's keys in first-seen order ...
	vals  []jsonValue
}

// float is a number's value as a Python float: float(int) rounds an integer of any size to
// the nearest double (an infinity past the largest), as strconv does.
func (v *jsonValue) float() float64 {
	if v.kind == jsonInt {
		f, _ := strconv.ParseFloat(v.s, 64)
		return f
	}
	return v.f
}

// field is an object's value for key, the last one given.
func (v *jsonValue) field(key string) (*jsonValue, bool) {
	for i, k := range v.keys {
		if k == key {
			return &v.vals[i], true
		}
	}
	return nil, false
}

var errJSON = errors.New("invalid JSON")

// jiter's recursion limit: a non-empty array or object this deep in others is an error.
const maxJSONDepth = 200

type jsonParser struct {
	data  string
	pos   int
	depth int
}

func parseJSON(data []byte) (jsonValue, error) {
	p := &jsonParser{data: string(data)}
	p.skipSpace()
	v, err := p.value()
	if err != nil {
		return jsonValue{}, err
	}
	p.skipSpace()
	if p.pos != len(p.data) {
		return jsonValue{}, errJSON
	}
	return v, nil
}

func (p *jsonParser) skipSpace() {
	for p.pos < len(p.data) {
		switch p.data[p.pos] {
		case ' ', '\t', '\n', '\r':
			p.pos++
		default:
			return
		}
	}
}

func (p *jsonParser) literal(word string) bool {
	if len(p.data)-p.pos >= len(word) && p.data[p.pos:p.pos+len(word)] == word {
		p.pos += len(word)
		return true
	}
	return false
}

func (p *jsonParser) value() (jsonValue, error) {
	if p.pos >= len(p.data) {
		return jsonValue{}, errJSON
	}
	switch c := p.data[p.pos]; {
	case c == '"':
		s, err := p.string()
		return jsonValue{kind: jsonString, s: s}, err
	case c == '[':
		return p.array()
	case c == '{':
		return p.object()
	case c == 't' && p.literal("true"):
		return jsonValue{kind: jsonBool, b: true}, nil
	case c == 'f' && p.literal("false"):
		return jsonValue{kind: jsonBool}, nil
	case c == 'n' && p.literal("null"):
		return jsonValue{kind: jsonNull}, nil
	case c == 'N' && p.literal("NaN"):
		return jsonValue{kind: jsonFloat, f: math.NaN()}, nil
	case c == 'I' && p.literal("Infinity"):
		return jsonValue{kind: jsonFloat, f: math.Inf(1)}, nil
	case c == '-' && p.literal("-Infinity"):
		return jsonValue{kind: jsonFloat, f: math.Inf(-1)}, nil
	case c == '-' || isDigit(c):
		return p.number()
	}
	return jsonValue{}, errJSON
}

// enter counts one more non-empty array or object around what comes next.
func (p *jsonParser) enter() error {
	p.depth++
	if p.depth > maxJSONDepth {
		return errJSON
	}
	return nil
}

func (p *jsonParser) array() (jsonValue, error) {
	p.pos++ // [
	p.skipSpace()
	v := jsonValue{kind: jsonArray}
	if p.pos < len(p.data) && p.data[p.pos] == ']' {
		p.pos++
		return v, nil
	}
	if err := p.enter(); err != nil {
		return v, err
	}
	for {
		item, err := p.value()
		if err != nil {
			return v, err
		}
		v.items = append(v.items, item)
		p.skipSpace()
		if p.pos >= len(p.data) {
			return v, errJSON
		}
		switch p.data[p.pos] {
		case ',':
			p.pos++
			p.skipSpace()
		case ']':
			p.pos++
			p.depth--
			return v, nil
		default:
			return v, errJSON
		}
	}
}

func (p *jsonParser) object() (jsonValue, error) {
	p.pos++ // {
	p.skipSpace()
	v := jsonValue{kind: jsonObject}
	if p.pos < len(p.data) && p.data[p.pos] == '}' {
		p.pos++
		return v, nil
	}
	if err := p.enter(); err != nil {
		return v, err
	}
	var index map[string]int // for objects with many keys
	for {
		if p.pos >= len(p.data) || p.data[p.pos] != '"' {
			return v, errJSON
		}
		key, err := p.string()
		if err != nil {
			return v, err
		}
		p.skipSpace()
		if p.pos >= len(p.data) || p.data[p.pos] != ':' {
			return v, errJSON
		}
		p.pos++
		p.skipSpace()
		item, err := p.value()
		if err != nil {
			return v, err
		}
		if index == nil && len(v.keys) >= 16 {
			index = make(map[string]int, 32)
			for i, k := range v.keys {
				index[k] = i
			}
		}
		at := -1
		if index != nil {
			if i, ok := index[key]; ok {
				at = i
			}
		} else {
			for i, k := range v.keys {
				if k == key {
					at = i
					break
				}
			}
		}
		if at >= 0 {
			v.vals[at] = item
		} else {
			if index != nil {
				index[key] = len(v.keys)
			}
			v.keys = append(v.keys, key)
			v.vals = append(v.vals, item)
		}
		p.skipSpace()
		if p.pos >= len(p.data) {
			return v, errJSON
		}
		switch p.data[p.pos] {
		case ',':
			p.pos++
			p.skipSpace()
		case '}':
			p.pos++
			p.depth--
			return v, nil
		default:
			return v, errJSON
		}
	}
}

func hex4(s string) (rune, bool) {
	if len(s) < 4 {
		return 0, false
	}
	var r rune
	for i := 0; i < 4; i++ {
		d, ok := unhex(s[i])
		if !ok {
			return 0, false
		}
		r = r<<4 | rune(d)
	}
	return r, true
}

// string reads a string: valid UTF-8, no control character, escapes decoded, and a surrogate
// escape only as half of a pair.
func (p *jsonParser) string() (string, error) {
	p.pos++ // "
	start := p.pos
	var out []byte // only once an escape is seen
	for p.pos < len(p.data) {
		c := p.data[p.pos]
		switch {
		case c == '"':
			raw := p.data[start:p.pos]
			p.pos++
			if out == nil {
				if !utf8.ValidString(raw) {
					return "", errJSON
				}
				return raw, nil
			}
			out = append(out, raw...)
			if !utf8.Valid(out) {
				return "", errJSON
			}
			return string(out), nil
		case c < 0x20:
			return "", errJSON
		case c == '\\':
			out = append(out, p.data[start:p.pos]...)
			if p.pos+1 >= len(p.data) {
				return "", errJSON
			}
			esc := p.data[p.pos+1]
			p.pos += 2
			switch esc {
			case '"', '\\', '/':
				out = append(out, esc)
			case 'b':
				out = append(out, '\b')
			case 'f':
				out = append(out, '\f')
			case 'n':
				out = append(out, '\n')
			case 'r':
				out = append(out, '\r')
			case 't':
				out = append(out, '\t')
			case 'u':
				r, ok := hex4(p.data[p.pos:])
				if !ok {
					return "", errJSON
				}
				p.pos += 4
				if utf16.IsSurrogate(r) {
					if r >= 0xDC00 || !(len(p.data)-p.pos >= 6 && p.data[p.pos] == '\\' && p.data[p.pos+1] == 'u') {
						return "", errJSON
					}
					low, ok := hex4(p.data[p.pos+2:])
					if !ok || low < 0xDC00 || low > 0xDFFF {
						return "", errJSON
					}
					p.pos += 6
					r = utf16.DecodeRune(r, low)
				}
				out = utf8.AppendRune(out, r)
			default:
				return "", errJSON
			}
			start = p.pos
		default:
			p.pos++
		}
	}
	return "", errJSON
}

// number reads -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?: an integer without a fraction or
// an exponent, else a float (overflowing to an infinity, as jiter's does).
func (p *jsonParser) number() (jsonValue, error) {
	start := p.pos
	if p.data[p.pos] == '-' {
		p.pos++
	}
	digits := p.pos
	if p.pos >= len(p.data) || !isDigit(p.data[p.pos]) {
		return jsonValue{}, errJSON
	}
	if p.data[p.pos] == '0' {
		p.pos++
		if p.pos < len(p.data) && isDigit(p.data[p.pos]) {
			return jsonValue{}, errJSON
		}
	} else {
		for p.pos < len(p.data) && isDigit(p.data[p.pos]) {
			p.pos++
		}
		if p.pos-start > maxIntChars {
			return jsonValue{}, errJSON
		}
	}
	integer := true
	if p.pos < len(p.data) && p.data[p.pos] == '.' {
		integer = false
		p.pos++
		if !p.digits() {
			return jsonValue{}, errJSON
		}
	}
	if p.pos < len(p.data) && (p.data[p.pos] == 'e' || p.data[p.pos] == 'E') {
		integer = false
		p.pos++
		if p.pos < len(p.data) && (p.data[p.pos] == '+' || p.data[p.pos] == '-') {
			p.pos++
		}
		if !p.digits() {
			return jsonValue{}, errJSON
		}
	}
	text := p.data[start:p.pos]
	if integer {
		return jsonValue{kind: jsonInt, n: fromDigits(digits > start, p.data[digits:p.pos]), s: text}, nil
	}
	f, err := strconv.ParseFloat(text, 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		return jsonValue{}, errJSON
	}
	return jsonValue{kind: jsonFloat, f: f}, nil
}

func (p *jsonParser) digits() bool {
	first := p.pos
	for p.pos < len(p.data) && isDigit(p.data[p.pos]) {
		p.pos++
	}
	return p.pos > first
}
