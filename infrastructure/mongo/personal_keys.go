package mongo

import (
	"context"
	"errors"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"shop/app/personal"
)

type personalKeyDoc struct {
	Subject   string    `bson:"_id"`
	KeyID     string    `bson:"keyId"`
	Material  []byte    `bson:"key"`
	CreatedAt time.Time `bson:"createdAt"`
}

// PersonalKeys is the key store of personal data: the "personal_keys"
// collection of the operations database, one document per data subject,
// apart from every service's events so that deleting a key leaves them whole.
// (A deleted document's bytes stay in the database's files, and in backups,
// until those are rewritten or expire: what erasure promises lasts as long.)
//
// A key is read with a find by _id, one per read, which FerretDB serves from
// its index: grouping the reads of concurrent callers into one find of
// several ids ($in), as the inserts are grouped, halved the throughput on
// FerretDB, which does not push an $in down to PostgreSQL's indexes. New
// keys are inserted in groups, as events are (inserts.go).
type PersonalKeys struct {
	client  *Client
	coll    *mongo.Collection
	inserts *grouped
}

// NewPersonalKeys opens the key store. Its one index is the _id.
func NewPersonalKeys(client *Client) *PersonalKeys {
	coll := client.Database(OperationsDatabase).Collection("personal_keys")
	return &PersonalKeys{client: client, coll: coll, inserts: newGrouped(client, coll)}
}

func (k *PersonalKeys) Key(ctx context.Context, subject string) (personal.Key, error) {
	var doc personalKeyDoc
	err := k.client.do(ctx, func(ctx context.Context) error {
		return k.coll.FindOne(ctx, bson.D{{Key: "_id", Value: subject}}).Decode(&doc)
	})
	if errors.Is(err, mongo.ErrNoDocuments) {
		return personal.Key{}, personal.ErrNoKey
	}
	if err != nil {
		return personal.Key{}, err
	}
	return personal.Key{ID: doc.KeyID, Material: doc.Material}, nil
}

// KeyOrAdd reads the key, and inserts the candidate only when there is
// none: a find for a customer seen before, a find and an insert for a new
// one. (An upsert would be one round trip, but FerretDB runs it as an update,
// its costliest command: the upsert per order cost more throughput than
// the read it saved.)
func (k *PersonalKeys) KeyOrAdd(ctx context.Context, subject string, candidate personal.Key) (personal.Key, error) {
	key, err := k.Key(ctx, subject)
	if !errors.Is(err, personal.ErrNoKey) {
		return key, err
	}
	err = k.inserts.insert(ctx, personalKeyDoc{
		Subject: subject, KeyID: candidate.ID, Material: candidate.Material, CreatedAt: time.Now().UTC().Truncate(time.Millisecond),
	})
	switch {
	case mongo.IsDuplicateKeyError(err):
		// Another writer stored the subject's first key meanwhile: that one
		// is the key.
		return k.Key(ctx, subject)
	case err != nil:
		return personal.Key{}, err
	}
	return candidate, nil
}

func (k *PersonalKeys) Delete(ctx context.Context, subject string) (bool, error) {
	var deleted int64
	err := k.client.do(ctx, func(ctx context.Context) error {
		res, err := k.coll.DeleteOne(ctx, bson.D{{Key: "_id", Value: subject}})
		if err == nil {
			deleted = res.DeletedCount
		}
		return err
	})
	return deleted > 0, err
}
