package main

// The CPU workloads and TechEmpower's logic, as services/common/work.py has them.

import (
	"crypto/sha256"
	"encoding/hex"
	"html"
	"math/rand"
	"sort"
	"strconv"
	"strings"

	"golang.org/x/crypto/pbkdf2"
)

const worldRows = 10_000

// lcg is /cpu/python's loop: the same linear congruential generator, step for step, so that
// the result is the same number (lcg(3) == 662824084). Python runs it in the interpreter
// holding the GIL, ~80 ns a step; compiled Go runs it in about a nanosecond.
func lcg(steps int64) int64 {
	x := int64(1)
	for i := int64(0); i < steps; i++ {
		x = (x*1103515245 + 12345) & 0x7FFFFFFF
	}
	return x
}

// pbkdf2Hex is /cpu/native's PBKDF2-HMAC-SHA256 of the same password and salt, in hex.
func pbkdf2Hex(iterations int) string {
	return hex.EncodeToString(pbkdf2.Key([]byte("asynclab"), []byte("salt"), iterations, sha256.Size, sha256.New))
}

// randomIDs is n distinct World ids, sorted so that concurrent /updates lock rows in one order.
func randomIDs(n int) []int32 {
	ids := make([]int32, 0, n)
	seen := make(map[int32]bool, n)
	for len(ids) < n {
		id := int32(rand.Intn(worldRows) + 1)
		if !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	return ids
}

func randomNumber() int32 { return int32(rand.Intn(worldRows) + 1) }

// newRandomNumber differs from old, so that every update really changes the row.
func newRandomNumber(old int32) int32 {
	value := int32(rand.Intn(worldRows-1) + 1)
	if value >= old {
		return value + 1
	}
	return value
}

type fortune struct {
	id      int32
	message string
}

// renderFortunes is TechEmpower's page: the rows and one added at request time, sorted by
// message, escaped as markupsafe escapes (the same five entities as html.EscapeString).
func renderFortunes(rows []fortune) string {
	rows = append(rows, fortune{0, "Additional fortune added at request time."})
	sort.SliceStable(rows, func(i, j int) bool { return rows[i].message < rows[j].message })
	var b strings.Builder
	b.WriteString("<!DOCTYPE html><html><head><title>Fortunes</title></head><body><table>" +
		"<tr><th>id</th><th>message</th></tr>")
	for _, f := range rows {
		b.WriteString("<tr><td>")
		b.WriteString(strconv.Itoa(int(f.id)))
		b.WriteString("</td><td>")
		b.WriteString(html.EscapeString(f.message))
		b.WriteString("</td></tr>")
	}
	b.WriteString("</table></body></html>")
	return b.String()
}

type world struct {
	id, randomNumber int32
}

func (x world) write(w *jsonWriter) {
	w.raw("{").key("id").int(int64(x.id)).key("randomNumber").int(int64(x.randomNumber)).raw("}")
}

func (x world) json() []byte {
	w := &jsonWriter{buf: make([]byte, 0, 32)}
	x.write(w)
	return w.buf
}

func worldsJSON(worlds []world) []byte {
	w := &jsonWriter{buf: make([]byte, 0, 2+32*len(worlds))}
	w.raw("[")
	for i, x := range worlds {
		if i > 0 {
			w.raw(",")
		}
		x.write(w)
	}
	return w.raw("]").buf
}
