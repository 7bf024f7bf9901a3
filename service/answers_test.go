package service_test

import (
	"bytes"
	"encoding/json"
	"testing"
)

// The API's answers as a client reads them, declared here rather than taken
// from the server's own types, so that a change of the contract shows. They
// are decoded strictly: a field the server renamed, added or retyped fails
// the test with its name, instead of reading as empty or panicking.

type orderAnswer struct {
	Success bool      `json:"success"`
	Message string    `json:"message"`
	Order   orderJSON `json:"order"`
}

type orderListAnswer struct {
	Success    bool        `json:"success"`
	Orders     []orderJSON `json:"orders"`
	NextCursor string      `json:"nextCursor"`
}

type orderJSON struct {
	ID          string      `json:"id"`
	CustomerID  string      `json:"customerId"`
	Items       []itemJSON  `json:"items"`
	TotalAmount json.Number `json:"totalAmount"`
	Status      string      `json:"status"`
	Contact     *struct {
		Email       string `json:"email"`
		Phone       string `json:"phone"`
		DeviceToken string `json:"deviceToken"`
	} `json:"contact"`
	Rejections []struct {
		ProductID string `json:"productId"`
		Reason    string `json:"reason"`
		Requested int    `json:"requested"`
		Available int    `json:"available"`
	} `json:"rejections"`
	CancelReason string `json:"cancelReason"`
	CreatedAt    string `json:"createdAt"`
	UpdatedAt    string `json:"updatedAt"`
}

type itemJSON struct {
	ProductID   string      `json:"productId"`
	ProductName string      `json:"productName"`
	Quantity    int         `json:"quantity"`
	UnitPrice   json.Number `json:"unitPrice"`
	TotalPrice  json.Number `json:"totalPrice"`
}

type orderHistoryAnswer struct {
	Success bool   `json:"success"`
	OrderID string `json:"orderId"`
	Events  []struct {
		EventID       string          `json:"eventId"`
		Type          string          `json:"type"`
		SchemaVersion int             `json:"schemaVersion"`
		Version       int             `json:"version"`
		OccurredAt    string          `json:"occurredAt"`
		RecordedAt    string          `json:"recordedAt"`
		CorrelationID string          `json:"correlationId"`
		CausationID   string          `json:"causationId"`
		Data          json.RawMessage `json:"data"`
	} `json:"events"`
}

type productAnswer struct {
	Success bool        `json:"success"`
	Message string      `json:"message"`
	Product productJSON `json:"product"`
}

type productListAnswer struct {
	Success    bool          `json:"success"`
	Products   []productJSON `json:"products"`
	NextCursor string        `json:"nextCursor"`
}

type productJSON struct {
	ProductID string `json:"productId"`
	Name      string `json:"name"`
	Available int    `json:"available"`
	Reserved  int    `json:"reserved"`
	UpdatedAt string `json:"updatedAt"`
}

type notificationsAnswer struct {
	Success       bool               `json:"success"`
	OrderID       string             `json:"orderId"`
	Notifications []notificationJSON `json:"notifications"`
}

type notificationJSON struct {
	ID        string `json:"id"`
	OrderID   string `json:"orderId"`
	Kind      string `json:"kind"`
	Channel   string `json:"channel"`
	Recipient string `json:"recipient"`
	Status    string `json:"status"`
	Attempts  int    `json:"attempts"`
	LastError string `json:"lastError"`
	UpdatedAt string `json:"updatedAt"`
}

type healthAnswer struct {
	Status          string            `json:"status"`
	Timestamp       string            `json:"timestamp"`
	Uptime          int               `json:"uptime"`
	Services        map[string]string `json:"services"`
	CircuitBreakers map[string]string `json:"circuitBreakers"`
	Consumers       map[string]string `json:"consumers"`
	Partitions      map[string][]int  `json:"partitions"`
	Senders         map[string]string `json:"senders"`
}

type errorAnswer struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Details []struct {
			Field   string `json:"field"`
			Message string `json:"message"`
		} `json:"details"`
	} `json:"error"`
}

// decode reads an answer's body strictly into T.
func decode[T any](t testing.TB, r response) T {
	t.Helper()
	var v T
	dec := json.NewDecoder(bytes.NewReader(r.raw))
	dec.DisallowUnknownFields()
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("answer %d %s: %v", r.status, r.raw, err)
	}
	return v
}

// decodePart reads the fields T declares of an answer, as a client that uses
// only those; a field of another type still fails the test by name.
func decodePart[T any](t testing.TB, r response) T {
	t.Helper()
	var v T
	dec := json.NewDecoder(bytes.NewReader(r.raw))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("answer %d %s: %v", r.status, r.raw, err)
	}
	return v
}

// The parts of the admin API's answers the tests read.
type deadLettersAnswer struct {
	DeadLetters []struct {
		ID     string `json:"id"`
		Parked int    `json:"parked"`
	} `json:"deadLetters"`
}

type deadLetterAnswer struct {
	DeadLetter struct {
		Payload struct {
			OrderID string `json:"OrderID"`
		} `json:"payload"`
	} `json:"deadLetter"`
}

type reportAnswer struct {
	Report struct {
		Selected  int `json:"selected"`
		Published int `json:"published"`
	} `json:"report"`
}

type statsAnswer struct {
	DeadLetters struct {
		Total int `json:"total"`
	} `json:"deadLetters"`
	RecentRuns []json.RawMessage `json:"recentRuns"`
}

type rebuildsAnswer struct {
	Rebuilds []json.RawMessage `json:"rebuilds"`
}
