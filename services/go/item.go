package main

// POST /items' body, validated as pydantic validates services/common/models.py's ItemIn from
// JSON (strict, extra="forbid"): every field in the model's order, then every unknown key,
// each failure with pydantic's type and message.

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

const (
	maxBodyBytes = 64 * 1024
	maxNameChars = 100
	maxTagChars  = 50
	maxTags      = 10
	maxQuantity  = 10_000
	nulMessage   = "String should not contain the NUL character (\\u0000): the database cannot store it"
)

type item struct {
	name     string
	price    float64
	quantity int64
	tags     []string
}

var itemFields = []string{"name", "price", "quantity", "tags"}

// validateItem is ItemIn.model_validate_json on an already parsed body.
func validateItem(body jsonValue) (item, *apiError) {
	if body.kind != jsonObject {
		return item{}, validationError([]issue{{"body", "body", "model_type", "Input should be an object"}})
	}
	var it item
	var problems []issue
	fail := func(field, kind, message string) {
		if field == "" { // errors.validation_error: an empty location names the body
			field = "body"
		}
		problems = append(problems, issue{field, "body", kind, message})
	}
	missing := func(field string) { fail(field, "missing", "Field required") }

	if v, ok := body.field("name"); !ok {
		missing("name")
	} else if kind, message := checkText(v, 1, maxNameChars); kind != "" {
		fail("name", kind, message)
	} else {
		it.name = v.s
	}

	if v, ok := body.field("price"); !ok {
		missing("price")
	} else if v.kind != jsonInt && v.kind != jsonFloat {
		fail("price", "float_type", "Input should be a valid number")
	} else if f := v.float(); math.IsInf(f, 0) || math.IsNaN(f) {
		fail("price", "finite_number", "Input should be a finite number")
	} else if !(f > 0) {
		fail("price", "greater_than", "Input should be greater than 0")
	} else {
		it.price = f
	}

	if v, ok := body.field("quantity"); !ok {
		missing("quantity")
	} else if n, isInt := integral(v); !isInt {
		fail("quantity", "int_type", "Input should be a valid integer")
	} else if n.less(0) {
		fail("quantity", "greater_than_equal", "Input should be greater than or equal to 0")
	} else if n.more(maxQuantity) {
		fail("quantity", "less_than_equal", fmt.Sprintf("Input should be less than or equal to %d", maxQuantity))
	} else {
		it.quantity = n.value
	}

	it.tags = []string{}
	if v, ok := body.field("tags"); ok {
		switch {
		case v.kind != jsonArray:
			fail("tags", "list_type", "Input should be a valid array")
		case len(v.items) > maxTags:
			fail("tags", "too_long", fmt.Sprintf("List should have at most %d items after validation, not %d", maxTags, len(v.items)))
		default:
			for i := range v.items {
				if kind, message := checkText(&v.items[i], 1, maxTagChars); kind != "" {
					fail("tags."+strconv.Itoa(i), kind, message)
				} else {
					it.tags = append(it.tags, v.items[i].s)
				}
			}
		}
	}

	for _, key := range body.keys {
		if !isItemField(key) {
			fail(key, "extra_forbidden", "Extra inputs are not permitted")
		}
	}
	if problems != nil {
		return item{}, validationError(problems)
	}
	return it, nil
}

func isItemField(key string) bool {
	for _, f := range itemFields {
		if f == key {
			return true
		}
	}
	return false
}

// checkText is a strict str with min and max length in characters, then the NUL rule
// (models.NUL_FREE runs after the length rules); "" when the value passes.
func checkText(v *jsonValue, min, max int) (kind, message string) {
	if v.kind != jsonString {
		return "string_type", "Input should be a valid string"
	}
	switch n := utf8.RuneCountInString(v.s); {
	case n < min:
		return "string_too_short", fmt.Sprintf("String should have at least %d %s", min, plural(min, "character"))
	case n > max:
		return "string_too_long", fmt.Sprintf("String should have at most %d %s", max, plural(max, "character"))
	}
	if strings.IndexByte(v.s, 0) >= 0 {
		return "string_contains_nul", nulMessage
	}
	return "", ""
}

func plural(n int, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}

// integral is models.JsonInt: an integer, or a float with no fraction (3.0 is 3), and nothing
// else (no bool, no string); NaN and the infinities are not integers.
func integral(v *jsonValue) (pyInt, bool) {
	switch v.kind {
	case jsonInt:
		return v.n, true
	case jsonFloat:
		f := v.f
		if math.IsInf(f, 0) || math.IsNaN(f) || f != math.Trunc(f) {
			return pyInt{}, false
		}
		switch {
		case f >= 1<<63:
			return pyInt{huge: 1}, true
		case f < -(1 << 63):
			return pyInt{huge: -1}, true
		}
		return pyInt{value: int64(f)}, true
	}
	return pyInt{}, false
}
