package httpport

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"unicode"
	"unicode/utf8"
)

// checkJSON walks a body's tokens before it is decoded into a value of type
// t, and refuses what encoding/json lets through: a key that names a field
// only when case is ignored ("CUSTOMERID" for customerId), a key given twice
// in one object (the decoder keeps the last), bytes that are not UTF-8 (the
// decoder stores U+FFFD for them) and control characters in a string. Field
// paths are written items[0].quantity, as the validation's are. A body that
// is not JSON is left to the decoder, which says where.
func checkJSON(body []byte, t reflect.Type) error {
	if !utf8.Valid(body) {
		return badRequest("invalid_utf8", "the body is not valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := walkJSON(dec, t, ""); err != errNotJSON {
		return err
	}
	return nil
}

// errNotJSON ends the walk at a syntax error, for the decoder to describe.
var errNotJSON = fmt.Errorf("not JSON")

func walkJSON(dec *json.Decoder, t reflect.Type, path string) error {
	tok, err := dec.Token()
	if err != nil {
		return errNotJSON
	}
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if path == "" && tok == nil && t != nil {
		return badRequest("wrong_type", "the body must be "+jsonKind(t.Kind().String())+", not null")
	}
	if want, ok := mismatch(t, tok); !ok {
		if path == "" {
			return badRequest("wrong_type", fmt.Sprintf("the body must be %s, not %s", want, jsonKindOf(tok)))
		}
		return fieldError("wrong_type", "a field has the wrong type", path, fmt.Sprintf("must be %s, not %s", want, jsonKindOf(tok)))
	}
	switch v := tok.(type) {
	case json.Delim:
		switch v {
		case '{':
			fields := fieldsOf(t)
			seen := map[string]bool{}
			for dec.More() {
				keyTok, err := dec.Token()
				if err != nil {
					return errNotJSON
				}
				key, _ := keyTok.(string)
				at := join(path, key)
				if seen[key] {
					return fieldError("duplicate_field", "a field is given twice", at, "is given more than once")
				}
				seen[key] = true
				var inner reflect.Type
				if fields != nil {
					ft, ok := fields[key]
					if !ok {
						for name := range fields {
							if strings.EqualFold(name, key) {
								return fieldError("unknown_field", "the body has a field this endpoint does not take", at,
									fmt.Sprintf("is not a known field; field names are case-sensitive: %s", join(path, name)))
							}
						}
					}
					inner = ft
				} else if t != nil && t.Kind() == reflect.Map {
					inner = t.Elem()
				}
				if err := walkJSON(dec, inner, at); err != nil {
					return err
				}
			}
			if _, err := dec.Token(); err != nil {
				return errNotJSON
			}
		case '[':
			var elem reflect.Type
			if t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) {
				elem = t.Elem()
			}
			for i := 0; dec.More(); i++ {
				if err := walkJSON(dec, elem, fmt.Sprintf("%s[%d]", path, i)); err != nil {
					return err
				}
			}
			if _, err := dec.Token(); err != nil {
				return errNotJSON
			}
		}
	case string:
		if strings.IndexFunc(v, unicode.IsControl) >= 0 {
			return &httpError{status: http.StatusBadRequest, code: "invalid_string", message: "a string holds a control character",
				details: []fieldDetail{{Field: path, Message: "must not contain control characters"}}}
		}
	}
	return nil
}

func fieldError(code, message, field, detail string) error {
	return &httpError{status: http.StatusBadRequest, code: code, message: message, details: []fieldDetail{{Field: field, Message: detail}}}
}

// fieldsOf maps the JSON names of a struct's fields to their types; nil for
// what is not a struct (a map, a raw value), whose keys are not checked.
func fieldsOf(t reflect.Type) map[string]reflect.Type {
	if t == nil || t.Kind() != reflect.Struct {
		return nil
	}
	fields := map[string]reflect.Type{}
	for f := range t.Fields() {
		if !f.IsExported() {
			continue
		}
		name := f.Name
		if tag, ok := f.Tag.Lookup("json"); ok {
			tagName, _, _ := strings.Cut(tag, ",")
			if tagName == "-" {
				continue
			}
			if tagName != "" {
				name = tagName
			}
		}
		fields[name] = f.Type
	}
	return fields
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

var (
	rawMessage  = reflect.TypeFor[json.RawMessage]()
	unmarshaler = reflect.TypeFor[json.Unmarshaler]()
)

// mismatch reports whether a token can be decoded into t, and if not what t
// wants. Types that decode themselves, raw values and interfaces take
// anything.
func mismatch(t reflect.Type, tok json.Token) (want string, ok bool) {
	if t == nil || t == rawMessage || t.Kind() == reflect.Interface || reflect.PointerTo(t).Implements(unmarshaler) || tok == nil {
		return "", true
	}
	want = jsonKind(t.Kind().String())
	switch v := tok.(type) {
	case json.Delim:
		switch v {
		case '{':
			return want, t.Kind() == reflect.Struct || t.Kind() == reflect.Map
		case '[':
			return want, t.Kind() == reflect.Slice || t.Kind() == reflect.Array
		}
		return want, true
	case string:
		return want, t.Kind() == reflect.String
	case json.Number:
		switch t.Kind() {
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
			reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
			_, err := v.Int64()
			return "an integer", err == nil
		case reflect.Float32, reflect.Float64:
			return want, true
		}
		return want, false
	case bool:
		return want, t.Kind() == reflect.Bool
	}
	return want, true
}

func jsonKindOf(tok json.Token) string {
	switch v := tok.(type) {
	case json.Delim:
		if v == '[' {
			return "an array"
		}
		return "an object"
	case string:
		return "a string"
	case json.Number:
		return "the number " + v.String()
	case bool:
		return "true or false"
	}
	return "null"
}
