package httpport

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"
	"strconv"
	"strings"

	"shop/domain/money"
)

// maxBodyBytes caps every request body.
const maxBodyBytes = 1 << 20

// decodeJSON reads the request body into dst strictly: JSON only, one value,
// no unknown fields, names matched exactly and each given once, UTF-8 strings
// without control characters (checkJSON), at most 1 MiB. With optional set, an empty body leaves dst
// as it is.
func decodeJSON(w http.ResponseWriter, r *http.Request, dst any, optional bool) error {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	if err != nil {
		var maxBytes *http.MaxBytesError
		if errors.As(err, &maxBytes) {
			return err
		}
		return badRequest("unreadable_body", "the request body could not be read")
	}
	if len(bytes.TrimSpace(body)) == 0 {
		if optional {
			return nil
		}
		return badRequest("empty_body", "the request needs a JSON body")
	}
	mediaType, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || (mediaType != "application/json" && !strings.HasSuffix(mediaType, "+json")) {
		return &httpError{status: http.StatusUnsupportedMediaType, code: "unsupported_media_type", message: "send the body as application/json"}
	}
	if err := checkJSON(body, reflect.TypeOf(dst)); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return describeDecodeError(err)
	}
	if dec.More() {
		return badRequest("malformed_json", "the body holds more than one JSON value")
	}
	return nil
}

func describeDecodeError(err error) error {
	var syntax *json.SyntaxError
	var wrongType *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syntax):
		return badRequest("malformed_json", fmt.Sprintf("the body is not valid JSON (at byte %d)", syntax.Offset))
	case errors.Is(err, io.ErrUnexpectedEOF):
		return badRequest("malformed_json", "the body ends in the middle of a JSON value")
	case errors.As(err, &wrongType):
		field := wrongType.Field
		if field == "" {
			return badRequest("wrong_type", fmt.Sprintf("the body must be %s", jsonKind(wrongType.Type.Kind().String())))
		}
		return &httpError{status: http.StatusBadRequest, code: "wrong_type", message: "a field has the wrong type",
			details: []fieldDetail{{Field: field, Message: fmt.Sprintf("must be %s, not %s", jsonKind(wrongType.Type.Kind().String()), wrongType.Value)}}}
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return &httpError{status: http.StatusBadRequest, code: "unknown_field", message: "the body has a field this endpoint does not take",
			details: []fieldDetail{{Field: name, Message: "is not a known field"}}}
	default:
		return badRequest("malformed_json", "the body could not be decoded: "+err.Error())
	}
}

func jsonKind(goKind string) string {
	switch goKind {
	case "int", "int64", "int32":
		return "an integer"
	case "string":
		return "a string"
	case "struct", "map":
		return "an object"
	case "slice":
		return "an array"
	case "bool":
		return "true or false"
	}
	return goKind
}

// amount is money in JSON: a decimal number such as 999.99, read and written
// without going through a float.
type amount money.Amount

func (a amount) MarshalJSON() ([]byte, error) { return []byte(money.Amount(a).String()), nil }

// errNotANumber is an amount given as something else than a JSON number: a
// wrong type (400), not a wrong value (422).
var errNotANumber = errors.New("must be a number, not a string or another JSON value")

// parseAmount reads a JSON number token as money; a string, object or other
// token is refused, so that "10" is not taken for 10.
func parseAmount(raw json.RawMessage) (money.Amount, error) {
	s := string(bytes.TrimSpace(raw))
	if s == "" || s == "null" {
		return 0, errors.New("is required")
	}
	if c := s[0]; c != '-' && (c < '0' || c > '9') {
		return 0, errNotANumber
	}
	if _, err := strconv.ParseFloat(s, 64); err != nil {
		return 0, errNotANumber
	}
	if strings.ContainsAny(s, "eE") {
		return 0, errors.New("must be written as a plain decimal, without an exponent (999.99)")
	}
	a, err := money.Parse(s)
	if errors.Is(err, money.ErrTooLarge) {
		return 0, fmt.Errorf("must be at most %s", money.Max)
	}
	if err != nil {
		return 0, errors.New("must be a positive decimal number with at most 2 decimals")
	}
	return a, nil
}
