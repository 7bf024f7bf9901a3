package mongo

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"shop/app/orders"
	"shop/domain/money"
	"shop/domain/order"
)

type orderDoc struct {
	ID           string         `bson:"_id"`
	CustomerID   string         `bson:"customerId"`
	Items        []itemDoc      `bson:"items"`
	Total        int64          `bson:"total"`
	Status       string         `bson:"status"`
	Rejections   []rejectionDoc `bson:"rejections,omitempty"`
	CancelReason string         `bson:"cancelReason,omitempty"`
	CreatedAt    time.Time      `bson:"createdAt"`
	UpdatedAt    time.Time      `bson:"updatedAt"`
	Version      int            `bson:"version"`
}

type itemDoc struct {
	ProductID   string `bson:"productId"`
	ProductName string `bson:"productName"`
	Quantity    int    `bson:"quantity"`
	UnitPrice   int64  `bson:"unitPrice"`
}

type rejectionDoc struct {
	ProductID string `bson:"productId"`
	Reason    string `bson:"reason"`
	Requested int    `bson:"requested"`
	Available int    `bson:"available"`
}

func rejectionDocs(rs []order.ItemRejection) []rejectionDoc {
	if rs == nil {
		return nil
	}
	docs := make([]rejectionDoc, len(rs))
	for i, r := range rs {
		docs[i] = rejectionDoc{ProductID: r.ProductID, Reason: r.Reason, Requested: r.Requested, Available: r.Available}
	}
	return docs
}

func toOrderDoc(v orders.OrderView) orderDoc {
	var items []itemDoc
	if v.Items != nil {
		items = make([]itemDoc, len(v.Items))
		for i, it := range v.Items {
			items[i] = itemDoc{ProductID: it.ProductID, ProductName: it.ProductName, Quantity: it.Quantity, UnitPrice: int64(it.UnitPrice)}
		}
	}
	return orderDoc{
		ID: v.ID, CustomerID: v.CustomerID, Items: items, Total: int64(v.Total), Status: v.Status.String(),
		Rejections: rejectionDocs(v.Rejections), CancelReason: v.CancelReason,
		CreatedAt: bsonTime(v.CreatedAt), UpdatedAt: bsonTime(v.UpdatedAt), Version: v.Version,
	}
}

func (d orderDoc) view() (orders.OrderView, error) {
	status, err := parseEnum(d.Status, order.StatusFromString)
	if err != nil {
		return orders.OrderView{}, fmt.Errorf("order view %s: %w", d.ID, err)
	}
	v := orders.OrderView{
		ID: d.ID, CustomerID: d.CustomerID, Total: money.Amount(d.Total), Status: status, CancelReason: d.CancelReason,
		CreatedAt: d.CreatedAt.UTC(), UpdatedAt: d.UpdatedAt.UTC(), Version: d.Version,
	}
	if d.Items != nil {
		v.Items = make([]order.Item, len(d.Items))
		for i, it := range d.Items {
			v.Items[i] = order.Item{ProductID: it.ProductID, ProductName: it.ProductName, Quantity: it.Quantity, UnitPrice: money.Amount(it.UnitPrice)}
		}
	}
	if d.Rejections != nil {
		v.Rejections = make([]order.ItemRejection, len(d.Rejections))
		for i, r := range d.Rejections {
			v.Rejections[i] = order.ItemRejection{ProductID: r.ProductID, Reason: r.Reason, Requested: r.Requested, Available: r.Available}
		}
	}
	return v, nil
}

// newestFirst is the order of OrderViews.List; the id breaks ties of orders
// placed in the same millisecond, so that the cursor is a total order.
var newestFirst = bson.D{{Key: "createdAt", Value: -1}, {Key: "_id", Value: -1}}

// OrderViews is the orders read model in the "orders" collection of the
// orders service's database.
type OrderViews struct {
	client *Client
	coll   *activeCollection
}

// NewOrderViews opens the read model and creates the indexes its listings
// need if they are missing.
func NewOrderViews(ctx context.Context, client *Client) (*OrderViews, error) {
	return openOrderViews(ctx, client, newActiveCollection(client, "orders", "orders"))
}

func openOrderViews(ctx context.Context, client *Client, coll *activeCollection) (*OrderViews, error) {
	v := &OrderViews{client: client, coll: coll}
	indexes := []mongo.IndexModel{
		// One index per shape of List's filter, each ending in its sort, so
		// that a page is read in index order and stops at the limit.
		{Keys: bson.D{{Key: "customerId", Value: 1}, {Key: "status", Value: 1}, {Key: "createdAt", Value: -1}, {Key: "_id", Value: -1}}, Options: options.Index().SetName("customer_status_newest")},
		{Keys: bson.D{{Key: "customerId", Value: 1}, {Key: "createdAt", Value: -1}, {Key: "_id", Value: -1}}, Options: options.Index().SetName("customer_newest")},
		{Keys: newestFirst, Options: options.Index().SetName("newest")},
	}
	live, err := v.coll.get(ctx)
	if err != nil {
		return nil, fmt.Errorf("order views indexes: %w", err)
	}
	if _, err := client.ensureIndexes(ctx, live, indexes); err != nil {
		return nil, fmt.Errorf("order views indexes: %w", err)
	}
	return v, nil
}

// Create inserts the view of a placed order; a repeat of the event finds it
// there and leaves it as it is.
func (v *OrderViews) Create(ctx context.Context, o orders.OrderView) error {
	if err := insertFirst(ctx, v.client, v.coll, o.ID, o.Version, toOrderDoc(o)); err != nil {
		return fmt.Errorf("create order view %s: %w", o.ID, err)
	}
	return nil
}

// Update applies the event of that version only on top of its predecessor;
// the rejections and the cancel reason are kept unless the event gives them.
func (v *OrderViews) Update(ctx context.Context, id string, version int, c orders.OrderChange) error {
	set := bson.D{{Key: "status", Value: c.Status.String()}, {Key: "updatedAt", Value: bsonTime(c.UpdatedAt)}, {Key: "version", Value: version}}
	if c.Rejections != nil {
		set = append(set, bson.E{Key: "rejections", Value: rejectionDocs(c.Rejections)})
	}
	if c.CancelReason != "" {
		set = append(set, bson.E{Key: "cancelReason", Value: c.CancelReason})
	}
	return guardedUpdate(ctx, v.client, v.coll, "order", id, version, bson.D{{Key: "$set", Value: set}})
}

// Get returns orders.ErrOrderNotFound for an order the read model has not
// seen yet, which may also be one placed a moment ago.
func (v *OrderViews) Get(ctx context.Context, id string) (orders.OrderView, error) {
	var doc orderDoc
	coll, err := v.coll.get(ctx)
	if err == nil {
		err = v.client.do(ctx, func(ctx context.Context) error {
			return coll.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&doc)
		})
	}
	if errors.Is(err, mongo.ErrNoDocuments) {
		return orders.OrderView{}, orders.ErrOrderNotFound
	}
	if err != nil {
		return orders.OrderView{}, fmt.Errorf("get order view %s: %w", id, err)
	}
	return doc.view()
}

// List pages with a keyset cursor rather than an offset, so that orders placed
// while a client pages neither repeat nor shift later pages.
func (v *OrderViews) List(ctx context.Context, f orders.OrderFilter) (orders.OrderPage, error) {
	filter := bson.D{}
	if f.CustomerID != "" {
		filter = append(filter, bson.E{Key: "customerId", Value: f.CustomerID})
	}
	if !f.Status.IsZero() {
		filter = append(filter, bson.E{Key: "status", Value: f.Status.String()})
	}
	if f.After != nil {
		at := f.After.CreatedAt.UTC()
		filter = append(filter, bson.E{Key: "$or", Value: bson.A{
			bson.D{{Key: "createdAt", Value: bson.D{{Key: "$lt", Value: at}}}},
			bson.D{{Key: "createdAt", Value: at}, {Key: "_id", Value: bson.D{{Key: "$lt", Value: f.After.ID}}}},
		}})
	}
	opts := options.Find().SetSort(newestFirst)
	if f.Limit > 0 {
		// One more than the page tells whether another page follows.
		opts.SetLimit(int64(f.Limit) + 1)
	}
	var docs []orderDoc
	coll, err := v.coll.get(ctx)
	if err == nil {
		docs, err = findAll[orderDoc](ctx, v.client, coll, filter, opts)
	}
	if err != nil {
		return orders.OrderPage{}, fmt.Errorf("list order views: %w", err)
	}
	var page orders.OrderPage
	if f.Limit > 0 && len(docs) > f.Limit {
		docs = docs[:f.Limit]
		last := docs[len(docs)-1]
		page.Next = &orders.OrderCursor{CreatedAt: last.CreatedAt.UTC(), ID: last.ID}
	}
	page.Orders = make([]orders.OrderView, len(docs))
	for i, d := range docs {
		if page.Orders[i], err = d.view(); err != nil {
			return orders.OrderPage{}, err
		}
	}
	return page, nil
}

// Products.
