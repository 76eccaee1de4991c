package admin

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	json "github.com/goccy/go-json"
	"github.com/valyala/fasthttp"
)

// maxBody bounds a write's JSON body.
const maxBody = 64 << 10

// inputError is a 400 naming the field at fault; value is the JSON text
// that was refused.
type inputError struct {
	field string
	value string
	msg   string
}

func (e *inputError) Error() string {
	if e.field == "" {
		return e.msg
	}
	if e.value == "" {
		return e.field + ": " + e.msg
	}
	return e.field + ": " + e.msg + " (got " + e.value + ")"
}

func badField(field string, raw []byte, format string, a ...any) *inputError {
	return &inputError{field: field, value: string(raw), msg: fmt.Sprintf(format, a...)}
}

var (
	errTooLarge     = errors.New("the body is larger than 64 KiB")
	errContentType  = errors.New("the body must be application/json")
	errEmptyRequest = &inputError{msg: "the body must be a JSON object with at least one field"}
)

// readBody reads a write's body, at most maxBody bytes, from the admin
// listener (buffered) or a manager location (streamed).
func readBody(ctx *fasthttp.RequestCtx) ([]byte, error) {
	ct := string(ctx.Request.Header.ContentType())
	mt, _, _ := strings.Cut(ct, ";")
	if !strings.EqualFold(strings.TrimSpace(mt), "application/json") {
		return nil, errContentType
	}
	if ctx.Request.Header.ContentLength() > maxBody {
		return nil, errTooLarge
	}
	if s := ctx.RequestBodyStream(); s != nil {
		b, err := io.ReadAll(io.LimitReader(s, maxBody+1))
		if err != nil {
			return nil, &inputError{msg: "cannot read the body"}
		}
		if len(b) > maxBody {
			return nil, errTooLarge
		}
		return b, nil
	}
	b := ctx.Request.Body()
	if len(b) > maxBody {
		return nil, errTooLarge
	}
	return b, nil
}

// field is one key of a JSON object and its raw value.
type field struct {
	key string
	raw []byte
}

// decodeObject splits a flat JSON object into its fields, refusing what
// json.Unmarshal would let through: unknown keys, duplicate keys (which
// would otherwise be last-wins), null values and trailing data.
func decodeObject(body []byte, allowed []string) ([]field, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	tok, err := dec.Token()
	if err != nil || tok != json.Delim('{') {
		return nil, &inputError{msg: "the body must be a JSON object"}
	}
	var out []field
	for dec.More() {
		tok, err := dec.Token()
		key, ok := tok.(string)
		if err != nil || !ok {
			return nil, &inputError{msg: "the body is not valid JSON"}
		}
		if !slices.Contains(allowed, key) {
			return nil, &inputError{field: key, msg: "unknown field (allowed: " + strings.Join(allowed, ", ") + ")"}
		}
		if slices.ContainsFunc(out, func(f field) bool { return f.key == key }) {
			return nil, &inputError{field: key, msg: "given twice"}
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, &inputError{field: key, msg: "the value is not valid JSON"}
		}
		if string(raw) == "null" {
			return nil, &inputError{field: key, msg: "must not be null"}
		}
		out = append(out, field{key: key, raw: bytes.Clone(raw)})
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim('}') {
		return nil, &inputError{msg: "the body is not valid JSON"}
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, &inputError{msg: "the body must hold one JSON object and nothing after it"}
	}
	if len(out) == 0 {
		return nil, errEmptyRequest
	}
	return out, nil
}

// isNumber reports whether raw is a JSON number (not a string holding one).
func isNumber(raw []byte) bool {
	return len(raw) > 0 && (raw[0] == '-' || raw[0] >= '0' && raw[0] <= '9')
}

// number reads a finite number in [lo, hi].
func number(f field, lo, hi float64, allowed string) (float64, error) {
	if !isNumber(f.raw) {
		return 0, badField(f.key, f.raw, "must be %s", allowed)
	}
	v, err := strconv.ParseFloat(string(f.raw), 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) || v < lo || v > hi {
		return 0, badField(f.key, f.raw, "must be %s", allowed)
	}
	return v, nil
}

// integer reads a whole number in [lo, hi].
func integer(f field, lo, hi int) (int, error) {
	allowed := fmt.Sprintf("a whole number from %d to %d", lo, hi)
	if !isNumber(f.raw) {
		return 0, badField(f.key, f.raw, "must be %s", allowed)
	}
	v, err := strconv.Atoi(string(f.raw))
	if err != nil || v < lo || v > hi {
		return 0, badField(f.key, f.raw, "must be %s", allowed)
	}
	return v, nil
}

func text(f field) (string, error) {
	var s string
	if len(f.raw) == 0 || f.raw[0] != '"' || json.Unmarshal(f.raw, &s) != nil {
		return "", badField(f.key, f.raw, "must be a string")
	}
	return s, nil
}

func boolean(f field) (bool, error) {
	switch string(f.raw) {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, badField(f.key, f.raw, "must be true or false")
}

// maxTimeout is Apache's b_tmo bound.
const maxTimeout = 7200 * time.Second

// duration reads a timeout: whole seconds (Apache's unit) or Go duration
// text ("1.5s"), from 0 to 2h.
func duration(f field) (time.Duration, error) {
	const allowed = `seconds from 0 to 7200, or duration text from "0s" to "2h"`
	if isNumber(f.raw) {
		n, err := integer(f, 0, int(maxTimeout/time.Second))
		if err != nil {
			return 0, badField(f.key, f.raw, "must be %s", allowed)
		}
		return time.Duration(n) * time.Second, nil
	}
	s, err := text(f)
	if err != nil {
		return 0, badField(f.key, f.raw, "must be %s", allowed)
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 || d > maxTimeout {
		return 0, badField(f.key, f.raw, "must be %s", allowed)
	}
	return d, nil
}
