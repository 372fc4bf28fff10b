package s3_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"testing"
	"testing/iotest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3sink "github.com/geminiwebhooks/receiver/adapters/internal/s3"
	"github.com/geminiwebhooks/receiver/adapters/internal/sink/sinktest"
	"github.com/geminiwebhooks/receiver/core/jobs"

	"github.com/geminiwebhooks/receiver/core"
	"github.com/geminiwebhooks/receiver/scripts/testenv"
)

// moto is started by the first test that needs it and stopped by TestMain.
var moto struct {
	once sync.Once
	svc  *testenv.Service
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if moto.svc != nil {
		moto.svc.Stop()
	}
	os.Exit(code)
}

// motoS3 returns an S3 client of moto_server holding a new, empty bucket.
func motoS3(t *testing.T) (*s3.Client, string) {
	t.Helper()
	moto.once.Do(func() { moto.svc, moto.err = testenv.StartMoto(context.Background()) })
	if moto.err != nil {
		t.Fatal(moto.err)
	}
	c := s3.New(s3.Options{
		Region: "us-east-1", BaseEndpoint: aws.String("http://" + moto.svc.Host), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider("testing", "testing", ""),
	})
	bucket := fmt.Sprintf("results-%d", time.Now().UnixNano())
	if _, err := c.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatal(err)
	}
	return c, bucket
}

// The S3 sink keeps the Sink contract in moto: a multipart landing arrives
// byte for byte, a second one replaces it, and a landing whose source fails
// leaves nothing: no object, no old object changed, no multipart upload
// left behind to bill.
func TestS3Sink(t *testing.T) {
	c, bucket := motoS3(t)
	s, err := s3sink.New(c, "s3://"+bucket+"/landing/prefix")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	big := bytes.Repeat([]byte("0123456789abcdef\n"), (20<<20)/17) // 20 MiB: three parts
	uri, err := s.Put(ctx, "batches/a/results.jsonl", bytes.NewReader(big), "application/jsonl")
	if err != nil {
		t.Fatal(err)
	}
	if want := "s3://" + bucket + "/landing/prefix/batches/a/results.jsonl"; uri != want || s.URI("batches/a/results.jsonl") != want {
		t.Fatalf("uri %s, want %s", uri, want)
	}
	// Read back with the plain client: the object is what was sent.
	obj, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String("landing/prefix/batches/a/results.jsonl")})
	if err != nil {
		t.Fatal(err)
	}
	var got bytes.Buffer
	got.ReadFrom(obj.Body)
	obj.Body.Close()
	if sha256.Sum256(got.Bytes()) != sha256.Sum256(big) || aws.ToString(obj.ContentType) != "application/jsonl" {
		t.Fatalf("landed %d bytes (%s), want %d bytes byte for byte", got.Len(), aws.ToString(obj.ContentType), len(big))
	}
	if etag := aws.ToString(obj.ETag); !strings.Contains(etag, "-3") {
		t.Errorf("ETag %s: want a three-part multipart upload", etag)
	}

	// A second landing of the key replaces it (single PUT, If-Match).
	if _, err := s.Put(ctx, "batches/a/results.jsonl", strings.NewReader("v2\n"), "application/jsonl"); err != nil {
		t.Fatal(err)
	}
	if b, err := jobs.ReadSmall(ctx, s, "batches/a/results.jsonl", 100); err != nil || string(b) != "v2\n" {
		t.Fatalf("after replace: %q %v", b, err)
	}
	if _, err := jobs.ReadSmall(ctx, s, "batches/a/results.jsonl", 2); err == nil {
		t.Fatal("Get ignored its limit")
	}

	// Sources that fail: in the first part (single PUT) and after two
	// parts were uploaded (multipart, aborted).
	for _, cut := range []int64{100, 17 << 20} {
		_, err = s.Put(ctx, "batches/b/results.jsonl", io.MultiReader(io.LimitReader(bytes.NewReader(big), cut), iotest.ErrReader(errCut)), "application/jsonl")
		if !errors.Is(err, errCut) {
			t.Fatalf("put from a source cut after %d bytes: %v", cut, err)
		}
		_, err = s.Put(ctx, "batches/a/results.jsonl", io.MultiReader(io.LimitReader(bytes.NewReader(big), cut), iotest.ErrReader(errCut)), "application/jsonl")
		if !errors.Is(err, errCut) {
			t.Fatalf("replace from a source cut after %d bytes: %v", cut, err)
		}
	}
	if _, err := jobs.ReadSmall(ctx, s, "batches/b/results.jsonl", 20<<20); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("a failed put left something: %v", err)
	}
	if b, _ := jobs.ReadSmall(ctx, s, "batches/a/results.jsonl", 100); string(b) != "v2\n" {
		t.Fatalf("a failed replace changed the object: %q", b)
	}
	ups, err := c.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String(bucket)})
	if err != nil {
		t.Fatal(err)
	}
	if len(ups.Uploads) != 0 {
		t.Fatalf("%d multipart uploads left behind", len(ups.Uploads))
	}
	list, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(bucket)})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Contents) != 1 {
		t.Fatalf("bucket holds %d objects, want 1", len(list.Contents))
	}
	for _, bad := range []string{"", "/abs", "a/../b", "a//b", "."} {
		if _, err := s.Put(ctx, bad, strings.NewReader("x"), ""); err == nil {
			t.Errorf("key %q accepted", bad)
		}
	}
}

// Two writers that both saw the key absent: the conditional create lets
// only the first to finish win, for a single PUT and for a multipart
// upload alike; the other fails instead of overwriting.
func TestS3ConditionalCreate(t *testing.T) {
	c, bucket := motoS3(t)
	s, _ := s3sink.New(c, "s3://"+bucket)
	ctx := context.Background()
	for name, size := range map[string]int{"single": 7, "multipart": 9 << 20} {
		t.Run(name, func(t *testing.T) {
			key := name + "/results.jsonl"
			a := bytes.Repeat([]byte("A"), size)
			slow := sinktest.NewGated(bytes.NewReader(a))
			errA := make(chan error, 1)
			go func() {
				_, err := s.Put(ctx, key, slow, "")
				errA <- err
			}()
			<-slow.Reading // A has checked that the key is absent and is streaming
			if _, err := s.Put(ctx, key, strings.NewReader("from B\n"), ""); err != nil {
				t.Fatal(err)
			}
			close(slow.Open)
			if err := <-errA; err == nil || !strings.Contains(err.Error(), "written concurrently") {
				t.Fatalf("the second writer: %v, want a failed precondition", err)
			}
			if b, _ := jobs.ReadSmall(ctx, s, key, 100); string(b) != "from B\n" {
				t.Fatalf("object holds %q", b)
			}
		})
	}
}

// errCut ends an upload's body part-way, as a cut download does.
var errCut = errors.New("connection cut")

// The conformance every sink runs.
func TestS3SinkConformance(t *testing.T) {
	c, bucket := motoS3(t)
	s, err := s3sink.New(c, "s3://"+bucket+"/conformance")
	if err != nil {
		t.Fatal(err)
	}
	sinktest.Run(t, s)
}
