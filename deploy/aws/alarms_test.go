package aws

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// resource returns the YAML block of a top-level resource of the template.
func resource(t *testing.T, tpl, name string) string {
	t.Helper()
	i := strings.Index(tpl, "\n  "+name+":\n")
	if i < 0 {
		t.Fatalf("no resource %s", name)
	}
	rest := tpl[i+len(name)+4:]
	if j := regexp.MustCompile(`\n  [A-Za-z]+:\n`).FindStringIndex(rest); j != nil {
		rest = rest[:j[0]]
	}
	return rest
}

// TestAlarmsAndLogFormat checks what cfn-lint does not: the alarms watch the
// dead-letter queue, both functions' errors, the EMF count of rejected
// deliveries and, with IdempotencyStore=dynamodb, the table's throttled
// reads and writes (namespace, metric and dimensions as adapters/lambda/emf.go
// writes them), notify the optional SNS topic, and both functions log in
// Lambda's JSON format at ApplicationLogLevel.
func TestAlarmsAndLogFormat(t *testing.T) {
	b, err := os.ReadFile("template.yaml")
	if err != nil {
		t.Fatal(err)
	}
	tpl := string(b)
	cases := []struct {
		resource string
		want     []string
	}{
		{"DeadLetterQueueAlarm", []string{"Namespace: AWS/SQS", "MetricName: ApproximateNumberOfMessagesVisible", "Value: !GetAtt TaskDeadLetterQueue.QueueName", "Threshold: 0", "ComparisonOperator: GreaterThanThreshold"}},
		{"ReceiverErrorsAlarm", []string{"Namespace: AWS/Lambda", "MetricName: Errors", "Value: !Ref GeminiWebhookFunction"}},
		{"WorkerErrorsAlarm", []string{"Namespace: AWS/Lambda", "MetricName: Errors", "Value: !Ref GeminiWorkerFunction"}},
		{"RejectedBurstAlarm", []string{"Namespace: GeminiWebhooks", "MetricName: Deliveries", "Name: function\n          Value: !Ref GeminiWebhookFunction", "Name: outcome\n          Value: rejected", "Threshold: !Ref RejectedBurstThreshold"}},
		{"IdempotencyTableThrottleAlarm", []string{"Condition: UseDynamoDB", "Namespace: AWS/DynamoDB", "MetricName: ReadThrottleEvents", "MetricName: WriteThrottleEvents", "Value: !Ref IdempotencyTable", "Expression: FILL(reads, 0) + FILL(writes, 0) + FILL(indexreads, 0) + FILL(indexwrites, 0)", "Name: GlobalSecondaryIndexName\n                  Value: list", "Threshold: 0"}},
		{"GeminiWebhookFunction", []string{"LogFormat: JSON", "ApplicationLogLevel: !Ref ApplicationLogLevel"}},
		{"GeminiWorkerFunction", []string{"LogFormat: JSON", "ApplicationLogLevel: !Ref ApplicationLogLevel"}},
	}
	for _, c := range cases {
		t.Run(c.resource, func(t *testing.T) {
			block := resource(t, tpl, c.resource)
			want := c.want
			if strings.HasSuffix(c.resource, "Alarm") {
				want = append(want, "AlarmActions: !If [HasAlarmTopic, [!Ref AlarmTopicArn], !Ref AWS::NoValue]", "TreatMissingData: notBreaching")
			}
			for _, w := range want {
				if !strings.Contains(block, w) {
					t.Errorf("%s lacks %q:\n%s", c.resource, w, block)
				}
			}
		})
	}
}
