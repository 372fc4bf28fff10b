package cli

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch/schemas"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/smithy-go/transport/http/protocol/awsquery"

	"github.com/geminiwebhooks/receiver/adapters/internal/aws"
	"github.com/geminiwebhooks/receiver/adapters/lambda"
)

// cloudWatchDeliveries reads back the per-outcome counts the Lambda's
// delivery lines carry as EMF (lambda.MetricsNamespace, metric
// lambda.MetricDeliveries, dimensions function and outcome): every
// function's series ListMetrics finds, summed per outcome over [from, to)
// with GetMetricData (one call per 500 series). The CloudWatch client is
// the admin CLI's alone: the Lambda never links it.
func cloudWatchDeliveries(ctx context.Context, from, to time.Time) (map[string]int64, string, error) {
	cfg, err := (&aws.Clients{}).Config(ctx)
	if err != nil {
		return nil, "", err
	}
	cw := newCloudWatch(cfg)
	var series []cwtypes.Metric
	functions, seen := map[string]bool{}, map[string]bool{}
	p := cloudwatch.NewListMetricsPaginator(cw, &cloudwatch.ListMetricsInput{
		Namespace: awssdk.String(lambda.MetricsNamespace), MetricName: awssdk.String(lambda.MetricDeliveries)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, "", fmt.Errorf("cloudwatch ListMetrics: %w", err)
		}
		for _, m := range page.Metrics {
			// A series once each (a look-alike may list one per data point).
			key := dim(m, "function") + "\x00" + dim(m, "outcome")
			if dim(m, "outcome") == "" || seen[key] {
				continue
			}
			seen[key] = true
			series = append(series, m)
			functions[dim(m, "function")] = true
		}
	}
	where := "CloudWatch " + lambda.MetricsNamespace + "/" + lambda.MetricDeliveries
	if len(functions) > 0 {
		var names []string
		for f := range functions {
			names = append(names, f)
		}
		sort.Strings(names)
		where += " (function " + strings.Join(names, ", ") + ")"
	}
	// The window ends at the next whole minute: a point of the current
	// minute is counted (an end of "now" drops it), and the window keeps its length.
	windowEnd := to.Truncate(time.Minute).Add(time.Minute)
	windowStart := windowEnd.Add(-to.Sub(from))
	counts := map[string]int64{}
	const perCall = 500 // GetMetricData's limit of queries
	for start := 0; start < len(series); start += perCall {
		batch := series[start:min(start+perCall, len(series))]
		var queries []cwtypes.MetricDataQuery
		for i := range batch {
			queries = append(queries, cwtypes.MetricDataQuery{Id: awssdk.String("m" + strconv.Itoa(i)),
				MetricStat: &cwtypes.MetricStat{Metric: &batch[i], Period: awssdk.Int32(3600), Stat: awssdk.String("Sum")}})
		}
		in := &cloudwatch.GetMetricDataInput{StartTime: awssdk.Time(windowStart), EndTime: awssdk.Time(windowEnd), MetricDataQueries: queries}
		dp := cloudwatch.NewGetMetricDataPaginator(cw, in)
		for dp.HasMorePages() {
			page, err := dp.NextPage(ctx)
			if err != nil {
				return nil, "", fmt.Errorf("cloudwatch GetMetricData: %w", err)
			}
			for _, r := range page.MetricDataResults {
				i, err := strconv.Atoi(strings.TrimPrefix(awssdk.ToString(r.Id), "m"))
				if err != nil || i >= len(batch) {
					continue
				}
				var sum float64
				for _, v := range r.Values {
					sum += v
				}
				counts[dim(batch[i], "outcome")] += int64(sum + 0.5)
			}
		}
	}
	return counts, where, nil
}

// newCloudWatch speaks CloudWatch's Query protocol (awsquery), which the
// service has always served, rather than the SDK's newer default (RPC v2
// CBOR): CloudWatch look-alikes such as moto_server answer only the former,
// and one protocol everywhere keeps the path the tests run the real one.
func newCloudWatch(cfg awssdk.Config) *cloudwatch.Client {
	return cloudwatch.NewFromConfig(cfg, func(o *cloudwatch.Options) {
		o.Protocol = awsquery.New(schemas.GraniteServiceVersion20100801)
	})
}

// dim is a metric's dimension value; "" when it has none by that name.
func dim(m cwtypes.Metric, name string) string {
	for _, d := range m.Dimensions {
		if awssdk.ToString(d.Name) == name {
			return awssdk.ToString(d.Value)
		}
	}
	return ""
}
