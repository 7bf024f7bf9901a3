package mongo_test

import (
	"testing"

	"shop/app/personal"
	"shop/app/personal/keystest"
	"shop/infrastructure/mongo"
)

func TestPersonalKeys(t *testing.T) {
	t.Parallel()
	keystest.Keys(t, func(t *testing.T) personal.Keys { return mongo.NewPersonalKeys(connect(t)) })
}
