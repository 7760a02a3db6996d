package main

// The JSON both Python services send: json.dumps(payload, ensure_ascii=False,
// separators=(",", ":")), byte for byte. encoding/json differs from it in three ways that
// matter here: it escapes <, > and & (and U+2028, U+2029), it writes invalid UTF-8 as U+FFFD
// one byte at a time, and it formats floats its own way (1e-05 as 0.00001). Payloads here are
// a handful of shapes, so a small writer over ordered fields is simpler than working around it.

import (
	"math"
	"strconv"
	"strings"
)

// jsonWriter appends compact JSON to a buffer; the caller writes fields in the order Python's
// dicts hold them.
type jsonWriter struct {
	buf []byte
}

func (w *jsonWriter) raw(s string) *jsonWriter {
	w.buf = append(w.buf, s...)
	return w
}

func (w *jsonWriter) str(s string) *jsonWriter {
	w.buf = appendPyString(w.buf, s)
	return w
}

func (w *jsonWriter) int(n int64) *jsonWriter {
	w.buf = strconv.AppendInt(w.buf, n, 10)
	return w
}

func (w *jsonWriter) float(f float64) *jsonWriter {
	w.buf = append(w.buf, pyFloatRepr(f)...)
	return w
}

// key writes `"name":`, preceded by a comma unless it follows an opening brace.
func (w *jsonWriter) key(name string) *jsonWriter {
	if n := len(w.buf); n > 0 && w.buf[n-1] != '{' {
		w.buf = append(w.buf, ',')
	}
	w.buf = appendPyString(w.buf, name)
	w.buf = append(w.buf, ':')
	return w
}

func (w *jsonWriter) strList(items []string) *jsonWriter {
	w.buf = append(w.buf, '[')
	for i, item := range items {
		if i > 0 {
			w.buf = append(w.buf, ',')
		}
		w.buf = appendPyString(w.buf, item)
	}
	w.buf = append(w.buf, ']')
	return w
}

const hexDigits = "0123456789abcdef"

// appendPyString quotes s as json.dumps(ensure_ascii=False) does: the two-character escapes
// for " \ \n \r \t \b \f, \u00XX for the other control characters, everything else as it is.
// Invalid UTF-8 is first decoded as Python would have decoded the bytes (errors="replace").
func appendPyString(buf []byte, s string) []byte {
	s = decodeUTF8Replace(s)
	buf = append(buf, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		buf = append(buf, s[start:i]...)
		switch c {
		case '"':
			buf = append(buf, '\\', '"')
		case '\\':
			buf = append(buf, '\\', '\\')
		case '\n':
			buf = append(buf, '\\', 'n')
		case '\r':
			buf = append(buf, '\\', 'r')
		case '\t':
			buf = append(buf, '\\', 't')
		case '\b':
			buf = append(buf, '\\', 'b')
		case '\f':
			buf = append(buf, '\\', 'f')
		default:
			buf = append(buf, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
		}
		start = i + 1
	}
	buf = append(buf, s[start:]...)
	return append(buf, '"')
}

// pyFloatRepr is Python's repr(float): the shortest digits that round-trip (Go finds the same
// ones), written positionally when the decimal point falls within 16 places of them (1e-05,
// 0.0001, 1e+16, 100.0), as json.dumps writes a float.
func pyFloatRepr(f float64) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	}
	e := strconv.FormatFloat(f, 'e', -1, 64) // -d.dddde±dd
	sign := ""
	if e[0] == '-' {
		sign, e = "-", e[1:]
	}
	mantissa, exp, _ := strings.Cut(e, "e")
	digits := strings.Replace(mantissa, ".", "", 1)
	power, _ := strconv.Atoi(exp)
	point := power + 1 // digits before the decimal point
	if point > -4 && point <= 16 {
		switch {
		case point <= 0:
			return sign + "0." + strings.Repeat("0", -point) + digits
		case point >= len(digits):
			return sign + digits + strings.Repeat("0", point-len(digits)) + ".0"
		default:
			return sign + digits[:point] + "." + digits[point:]
		}
	}
	if power < 0 {
		exp = "-" + leftPad2(strconv.Itoa(-power))
	} else {
		exp = "+" + leftPad2(strconv.Itoa(power))
	}
	return sign + mantissa + "e" + exp
}

func leftPad2(s string) string {
	if len(s) < 2 {
		return "0" + s
	}
	return s
}
