package mongo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"shop/app/fault"
	"shop/infrastructure/breaker"
	"shop/infrastructure/mongo/mongotest"
)

func TestDriverErrorsAreClassified(t *testing.T) {
	t.Parallel()
	reset := &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}
	tests := []struct {
		name                    string
		err                     error
		transient, notAttempted bool
	}{
		{"a network error", mongo.CommandError{Labels: []string{"NetworkError"}, Message: "connection reset by peer"}, true, false},
		{"a connection reset", fmt.Errorf("connection(127.0.0.1:27017[-3]) incomplete read of message header: %w", reset), true, false},
		{"an incomplete read", fmt.Errorf("incomplete read of message header: %w", io.EOF), true, false},
		{"a timeout", context.DeadlineExceeded, true, false},
		{"a primary stepping down", mongo.CommandError{Code: 189, Message: "PrimarySteppedDown"}, true, false},
		{"a server shutting down", mongo.CommandError{Code: 91, Message: "ShutdownInProgress"}, true, false},
		{"FerretDB's PostgreSQL out of connections", mongo.CommandError{Code: 1, Message: "[msg_insert.go:168 handler.(*Handler).MsgInsert] failed to connect to `user=root database=test`: server error: FATAL: sorry, too many clients already (SQLSTATE 53300)"}, true, false},
		{"a disconnected client", mongo.ErrClientDisconnected, true, true},
		{"a duplicate key", mongo.WriteException{WriteErrors: []mongo.WriteError{{Code: 11000, Message: "E11000 duplicate key"}}}, false, false},
		{"no document", mongo.ErrNoDocuments, false, false},
		{"a bad request", mongo.CommandError{Code: 2, Message: "BadValue"}, false, false},
	}
	for _, tt := range tests {
		err := classify(tt.err)
		if fault.IsTransient(err) != tt.transient || errors.Is(err, fault.ErrNotAttempted) != tt.notAttempted {
			t.Errorf("%s: %v is transient %v, not attempted %v; want %v, %v", tt.name, err,
				fault.IsTransient(err), errors.Is(err, fault.ErrNotAttempted), tt.transient, tt.notAttempted)
		}
		if !strings.Contains(err.Error(), tt.err.Error()) {
			t.Errorf("%s: the classified error %q lost %q", tt.name, err, tt.err)
		}
	}
}

// The errors of a real server that goes away under a client, as the driver
// reports them.
func TestTheErrorsOfAServerThatStoppedAreTransient(t *testing.T) {
	t.Parallel()
	server := mongotest.StartServer(t)
	cfg := breaker.DefaultConfig()
	cfg.CallTimeout = 2 * time.Second
	client, err := Connect(server.URL(), "classify_", breaker.New("mongodb", cfg, nil), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close(context.Background())
	coll := client.Database("x").Collection("y")
	ctx := context.Background()
	if err := client.do(ctx, func(ctx context.Context) error {
		_, err := coll.InsertOne(ctx, bson.D{{Key: "a", Value: 1}})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	server.Stop()
	for range 3 {
		err := client.do(ctx, func(ctx context.Context) error {
			_, err := coll.InsertOne(ctx, bson.D{{Key: "a", Value: 2}})
			return err
		})
		if err == nil || !fault.IsTransient(err) {
			t.Fatalf("a write to a stopped server: %v, want a transient failure", err)
		}
	}
	server.Start()
}
