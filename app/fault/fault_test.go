package fault_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"shop/app/fault"
)

func TestClassification(t *testing.T) {
	t.Parallel()
	down := fault.Unavailable("mongodb", context.DeadlineExceeded)
	wrapped := fmt.Errorf("load order: %w", down)
	if !fault.IsTransient(wrapped) || fault.IsMalformed(wrapped) {
		t.Fatal("unavailable dependency not transient")
	}
	if !errors.Is(wrapped, context.DeadlineExceeded) {
		t.Fatal("cause lost")
	}
	bad := fault.Malformed(errors.New("unexpected end of JSON input"))
	if !fault.IsMalformed(bad) || fault.IsTransient(bad) {
		t.Fatal("malformed input misclassified")
	}
	if fault.IsTransient(errors.New("boom")) || fault.IsMalformed(errors.New("boom")) {
		t.Fatal("plain error classified")
	}
	if got := down.Error(); got != "mongodb unavailable: context deadline exceeded" {
		t.Fatalf("message %q", got)
	}
}
