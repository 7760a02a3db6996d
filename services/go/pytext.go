package main

// Python's text semantics where the FastAPI oracle's answers depend on them: how Starlette
// decodes a query string and a path, and which characters Python and Rust call whitespace.
// Go keeps bytes where Python has already decoded them to text, so these turn Go's bytes into
// the text Python would hold, character for character.

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// decodeUTF8Replace is Python's bytes.decode("utf-8", errors="replace"): every maximal invalid
// subsequence becomes one U+FFFD (Go's range loop would make one per byte).
func decodeUTF8Replace(b string) string {
	if utf8.ValidString(b) {
		return b
	}
	var out strings.Builder
	for i := 0; i < len(b); {
		if b[i] < utf8.RuneSelf {
			out.WriteByte(b[i])
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(b[i:])
		if r != utf8.RuneError || size > 1 {
			out.WriteString(b[i : i+size])
			i += size
			continue
		}
		out.WriteRune(utf8.RuneError)
		i += maximalSubpart(b[i:])
	}
	return out.String()
}

// maximalSubpart is the length of the invalid sequence at the start of b that Python replaces
// with one U+FFFD: a lead byte and the continuation bytes that could still have completed it.
func maximalSubpart(b string) int {
	lead := b[0]
	need, lo, hi := 0, byte(0x80), byte(0xBF)
	switch {
	case lead >= 0xC2 && lead <= 0xDF:
		need = 1
	case lead == 0xE0:
		need, lo = 2, 0xA0
	case lead == 0xED:
		need, hi = 2, 0x9F
	case lead >= 0xE1 && lead <= 0xEF:
		need = 2
	case lead == 0xF0:
		need, lo = 3, 0x90
	case lead == 0xF4:
		need, hi = 3, 0x8F
	case lead >= 0xF1 && lead <= 0xF3:
		need = 3
	default:
		return 1
	}
	i := 1
	for k := 0; k < need && i < len(b); k++ {
		c := b[i]
		if k == 0 && (c < lo || c > hi) || k > 0 && (c < 0x80 || c > 0xBF) {
			break
		}
		i++
	}
	return i
}

// latin1 is bytes.decode("latin-1"): one character per byte, as Starlette reads a query string
// and a header value.
func latin1(b string) string {
	for i := 0; i < len(b); i++ {
		if b[i] >= utf8.RuneSelf {
			var out strings.Builder
			for j := 0; j < len(b); j++ {
				out.WriteRune(rune(b[j]))
			}
			return out.String()
		}
	}
	return b
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// unquote is urllib.parse.unquote(text) (UTF-8, errors="replace") on text: each run of ASCII
// characters is percent-decoded to bytes and those decoded as UTF-8; a malformed escape stays as
// it is, and non-ASCII characters are kept.
func unquote(text string) string {
	if !strings.Contains(text, "%") {
		return text
	}
	var out strings.Builder
	var run []byte
	flush := func() {
		out.WriteString(decodeUTF8Replace(string(run)))
		run = run[:0]
	}
	for i := 0; i < len(text); {
		c := text[i]
		if c >= utf8.RuneSelf {
			flush()
			_, size := utf8.DecodeRuneInString(text[i:])
			out.WriteString(text[i : i+size])
			i += size
			continue
		}
		if c == '%' && i+2 < len(text) {
			hi, ok1 := unhex(text[i+1])
			lo, ok2 := unhex(text[i+2])
			if ok1 && ok2 {
				run = append(run, hi<<4|lo)
				i += 3
				continue
			}
		}
		run = append(run, c)
		i++
	}
	flush()
	return out.String()
}

// queryParams is Starlette's request.query_params as a dict: parse_qsl(query.decode("latin-1"),
// keep_blank_values=True), the last value of a repeated name winning.
func queryParams(rawQuery string) map[string]string {
	params := map[string]string{}
	if rawQuery == "" {
		return params
	}
	for _, pair := range strings.Split(latin1(rawQuery), "&") {
		if pair == "" {
			continue
		}
		name, value, _ := strings.Cut(pair, "=")
		name = unquote(strings.ReplaceAll(name, "+", " "))
		params[name] = unquote(strings.ReplaceAll(value, "+", " "))
	}
	return params
}

// pyStrip is Python's str.strip(): whitespace as str.isspace() has it, which adds the ASCII
// separators U+001C..U+001F to Unicode's White_Space.
func pyStrip(s string) string {
	return strings.TrimFunc(s, func(r rune) bool {
		return unicode.IsSpace(r) || r >= 0x1C && r <= 0x1F
	})
}
