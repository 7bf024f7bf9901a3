package mongo_test

import (
	"context"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"shop/app/inventory"
	"shop/app/notifications"
	"shop/app/orders"
	"shop/app/readmodel/readmodeltest"
	"shop/domain/order"
	"shop/infrastructure/mongo"
)

func TestOrderViews(t *testing.T) {
	t.Parallel()
	readmodeltest.OrderViews(t, func(t *testing.T) orders.OrderViews {
		v, err := mongo.NewOrderViews(context.Background(), connect(t))
		if err != nil {
			t.Fatal(err)
		}
		return v
	})
}

func TestProductViews(t *testing.T) {
	t.Parallel()
	readmodeltest.ProductViews(t, func(t *testing.T) inventory.ProductViews {
		v, err := mongo.NewProductViews(context.Background(), connect(t))
		if err != nil {
			t.Fatal(err)
		}
		return v
	})
}

func TestNotificationViews(t *testing.T) {
	t.Parallel()
	readmodeltest.NotificationViews(t, func(t *testing.T) notifications.NotificationViews {
		v, err := mongo.NewNotificationViews(context.Background(), connect(t))
		if err != nil {
			t.Fatal(err)
		}
		return v
	})
}

func TestRecipients(t *testing.T) {
	t.Parallel()
	readmodeltest.Recipients(t, func(t *testing.T) notifications.Recipients {
		r, err := mongo.NewRecipients(context.Background(), connect(t))
		if err != nil {
			t.Fatal(err)
		}
		return r
	})
}

func TestReadModelsCreateTheirIndexesOnce(t *testing.T) {
	t.Parallel()
	client := connect(t)
	ctx := context.Background()
	for range 2 {
		if _, err := mongo.NewOrderViews(ctx, client); err != nil {
			t.Fatal(err)
		}
		if _, err := mongo.NewNotificationViews(ctx, client); err != nil {
			t.Fatal(err)
		}
	}
	for db, want := range map[string][]string{
		"orders":        {"_id_", "customer_status_newest", "customer_newest", "newest"},
		"notifications": {"_id_", "order"},
	} {
		// Each collection is named after its database.
		specs, err := client.Database(db).Collection(db).Indexes().ListSpecifications(ctx)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]bool{}
		for _, s := range specs {
			got[s.Name] = true
		}
		for _, name := range want {
			if !got[name] {
				t.Errorf("%s: index %s missing, have %v", db, name, got)
			}
		}
	}
}

func TestOrderViewsAreStoredAsQueryableDocuments(t *testing.T) {
	t.Parallel()
	client := connect(t)
	ctx := context.Background()
	views, err := mongo.NewOrderViews(ctx, client)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 5, 6, 7, 8, 9, 123456789, time.UTC)
	err = views.Create(ctx, orders.OrderView{
		ID: "o-1", CustomerID: "c-7", Status: order.StatusPending, Total: 250, CreatedAt: at, UpdatedAt: at, Version: 1,
		Items: []order.Item{{ProductID: "p", ProductName: "P", Quantity: 1, UnitPrice: 250}},
	})
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Status    string    `bson:"status"`
		Total     int64     `bson:"total"`
		CreatedAt time.Time `bson:"createdAt"`
		Items     []struct {
			UnitPrice int64 `bson:"unitPrice"`
		} `bson:"items"`
	}
	filter := bson.D{{Key: "customerId", Value: "c-7"}, {Key: "status", Value: "PENDING"}}
	if err := client.Database("orders").Collection("orders").FindOne(ctx, filter).Decode(&doc); err != nil {
		t.Fatalf("query by customer and status: %v", err)
	}
	if doc.Total != 250 || len(doc.Items) != 1 || doc.Items[0].UnitPrice != 250 || !doc.CreatedAt.Equal(at.Truncate(time.Millisecond)) {
		t.Fatalf("document %+v", doc)
	}
	got, err := views.Get(ctx, "o-1")
	if err != nil || !got.CreatedAt.Equal(at.Truncate(time.Millisecond)) || got.CreatedAt.Location() != time.UTC {
		t.Fatalf("view %+v %v", got, err)
	}
}
