using DeploymentRollback.Engine;
using Xunit;

namespace DeploymentRollback.Tests.Unit;

public class WatchEvaluatorTests
{
    private static WatchMeasurement M(MeasurementOutcome outcome) => new() { Probe = "http", Name = "x", Outcome = outcome };

    private static List<WatchCall> Run(WatchOptions options, params RoundVerdict[] rounds)
    {
        var evaluator = new WatchEvaluator(options);
        return rounds.Select(evaluator.Add).ToList();
    }

    [Fact]
    public void A_failure_limit_counts_failures_in_a_row_and_a_pass_clears_it()
    {
        var calls = Run(new WatchOptions { FailureLimit = 3 },
            RoundVerdict.Failed, RoundVerdict.Failed, RoundVerdict.Passed, RoundVerdict.Failed, RoundVerdict.Failed, RoundVerdict.Failed);
        Assert.Equal(new[] { WatchCall.Continue, WatchCall.Continue, WatchCall.Continue, WatchCall.Continue, WatchCall.Continue, WatchCall.RollBack }, calls);
    }

    [Fact]
    public void One_failure_in_three_never_reaches_a_limit_of_three()
    {
        var rounds = Enumerable.Range(1, 30).Select(i => i % 3 == 0 ? RoundVerdict.Failed : RoundVerdict.Passed).ToArray();
        Assert.DoesNotContain(WatchCall.RollBack, Run(new WatchOptions { FailureLimit = 3 }, rounds));
    }

    [Fact]
    public void M_of_N_triggers_with_passes_in_between_and_forgets_what_slid_out()
    {
        var options = new WatchOptions { FailureLimit = 100, Window = 4, FailuresInWindow = 3 };
        Assert.Equal(WatchCall.RollBack, Run(options, RoundVerdict.Failed, RoundVerdict.Passed, RoundVerdict.Failed, RoundVerdict.Failed)[^1]);
        Assert.DoesNotContain(WatchCall.RollBack, Run(options, RoundVerdict.Failed, RoundVerdict.Passed, RoundVerdict.Passed, RoundVerdict.Passed, RoundVerdict.Failed, RoundVerdict.Failed));
    }

    [Fact]
    public void Probe_errors_neither_break_nor_extend_a_failure_streak_and_pause_at_their_own_limit()
    {
        var calls = Run(new WatchOptions { FailureLimit = 2, ConsecutiveErrorLimit = 3 }, RoundVerdict.Failed, RoundVerdict.Error, RoundVerdict.Failed);
        Assert.Equal(WatchCall.RollBack, calls[^1]);
        Assert.Equal(WatchCall.Pause, Run(new WatchOptions { ConsecutiveErrorLimit = 3 }, RoundVerdict.Error, RoundVerdict.Error, RoundVerdict.Error)[^1]);
        Assert.DoesNotContain(WatchCall.Pause, Run(new WatchOptions { ConsecutiveErrorLimit = 3 }, RoundVerdict.Error, RoundVerdict.Error, RoundVerdict.Passed, RoundVerdict.Error));
    }

    [Theory]
    [InlineData(NoDataPolicy.Ignore, RoundVerdict.Passed)]
    [InlineData(NoDataPolicy.Fail, RoundVerdict.Failed)]
    [InlineData(NoDataPolicy.Inconclusive, RoundVerdict.Inconclusive)]
    public void No_data_is_what_the_policy_says(NoDataPolicy policy, RoundVerdict expected) =>
        Assert.Equal(expected, WatchEvaluator.Combine(new[] { M(MeasurementOutcome.Passed), M(MeasurementOutcome.NoData) }, policy));

    [Fact]
    public void A_failure_outweighs_a_probe_error_and_a_round_with_nothing_measured_is_no_data()
    {
        Assert.Equal(RoundVerdict.Failed, WatchEvaluator.Combine(new[] { M(MeasurementOutcome.Error), M(MeasurementOutcome.Failed) }, NoDataPolicy.Ignore));
        Assert.Equal(RoundVerdict.Error, WatchEvaluator.Combine(new[] { M(MeasurementOutcome.Error), M(MeasurementOutcome.Passed) }, NoDataPolicy.Ignore));
        Assert.Equal(RoundVerdict.NoData, WatchEvaluator.Combine(new[] { M(MeasurementOutcome.NoData) }, NoDataPolicy.Ignore));
    }

    [Theory]
    [InlineData("sum(rate(errors_total[1m])) / sum(rate(requests_total[1m])) < 0.05", "sum(rate(errors_total[1m])) / sum(rate(requests_total[1m]))", "<", 0.05)]
    [InlineData("histogram_quantile(0.95, sum by (le) (rate(d_bucket[1m]))) <= 3e-1", "histogram_quantile(0.95, sum by (le) (rate(d_bucket[1m])))", "<=", 0.3)]
    [InlineData("up{job=\"a\"} == 1", "up{job=\"a\"}", "==", 1)]
    public void A_query_keeps_its_condition_apart(string text, string expression, string op, double threshold)
    {
        var query = PrometheusQuery.Parse(text);
        Assert.Equal((expression, op, threshold), (query.Expression, query.Operator, query.Threshold));
    }

    [Theory]
    [InlineData("up")]
    [InlineData("< 1")]
    [InlineData("rate(x[1m]) < high")]
    public void A_query_without_a_condition_is_refused_with_its_id(string text) =>
        Assert.Equal(ErrorIds.WatchQueryInvalid, Assert.Throws<RollbackException>(() => PrometheusQuery.Parse(text)).ErrorId);

    [Fact]
    public void Prometheus_answers_are_read_as_values_and_errors()
    {
        var (vector, _) = PrometheusQuery.ReadAnswer("""{"status":"success","data":{"resultType":"vector","result":[{"metric":{"job":"a"},"value":[1,"0.41"]},{"metric":{},"value":[1,"NaN"]}]}}""");
        Assert.Equal(0.41, Assert.Single(vector!).Value);
        var (none, refused) = PrometheusQuery.ReadAnswer("""{"status":"error","errorType":"bad_data","error":"parse error"}""");
        Assert.Null(none);
        Assert.Contains("parse error", refused);
        Assert.Contains("not Prometheus", PrometheusQuery.ReadAnswer("<html>").Error);
        Assert.Contains("matrix", PrometheusQuery.ReadAnswer("""{"status":"success","data":{"resultType":"matrix","result":[]}}""").Error);
    }

    [Fact]
    public void A_window_without_its_count_is_refused()
    {
        var options = new WatchOptions { Checks = new VerificationOptions { SmokeTests = new[] { new ScriptAction("ok", _ => Task.FromResult(new ScriptOutcome(true, "", 0))) } }, Window = 5 };
        Assert.Equal(ErrorIds.WatchWindowInvalid, Assert.Throws<RollbackException>(options.Validate).ErrorId);
    }
}
