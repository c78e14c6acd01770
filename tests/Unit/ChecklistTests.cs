using System.Text.Json;
using DeploymentRollback.Engine;
using Xunit;

namespace DeploymentRollback.Tests.Unit;

public class ChecklistTests
{
    private const string Spikes = "No error spikes in logs";

    [Fact]
    public void A_step_cancelled_by_the_user_does_not_tick_no_errors_during_rollback()
    {
        using var temp = new TempDirectory();
        var now = DateTimeOffset.UtcNow;
        var attempt = new RollbackResult
        {
            AttemptId = "cancelled01", Strategy = "Git", TargetKey = "git:/srv/app", StartedAt = now, Outcome = RollbackOutcome.Failed,
            Steps =
            {
                new StepResult { Name = "Checkpoint", Status = StepStatus.Succeeded, StartedAt = now },
                new StepResult { Name = "Checkout v2.3.0", Status = StepStatus.Cancelled, StartedAt = now },
            },
        };

        var item = Checklist.Build(StateRoot.Open(temp.Path), attempt).Single(i => i.Item == "Verified no errors during rollback");

        Assert.False(item.Done);
    }

    private static RollbackResult Attempt(DateTimeOffset started) => new()
    {
        AttemptId = "logs0001", Strategy = "Container", TargetKey = "container:web", StartedAt = started, CompletedAt = started.AddSeconds(20),
        Outcome = RollbackOutcome.Succeeded, FromVersion = "app:2.3.1", ToVersion = "app:2.3.0",
    };

    private static void Compared(StateRoot state, RollbackResult attempt, LogComparison comparison) =>
        state.Journal.AddEvent(new JournalEvent(attempt.TargetKey, attempt.AttemptId, attempt.StartedAt.AddSeconds(15), JournalEventKinds.LogsCompared, JsonSerializer.Serialize(comparison)));

    private static void Measured(StateRoot state, RollbackResult attempt, DateTimeOffset at, bool passed, string? error = null, string probe = "prometheus") =>
        state.Journal.AddEvent(new JournalEvent(attempt.TargetKey, null, at, JournalEventKinds.Measured,
            $$"""{"Probe":"{{probe}}","Query":"sum(rate(http_requests_total{code=~\"5..\"}[1m]))","Value":{{(passed ? "0.01" : "0.2")}},"Condition":"< 0.05","Passed":{{(passed ? "true" : "false")}},"Error":{{(error is null ? "null" : $"\"{error}\"")}}}"""));

    private static ChecklistItem Item(StateRoot state, RollbackResult attempt) => Checklist.Build(state, attempt).Single(i => i.Item == Spikes);

    [Fact]
    public void Logs_with_no_spike_tick_the_item_with_the_counts()
    {
        using var temp = new TempDirectory();
        var state = StateRoot.Open(temp.Path);
        var attempt = Attempt(DateTimeOffset.UtcNow);
        Compared(state, attempt, new LogComparison { Verdict = LogVerdict.NoSpike, BeforeErrorLines = 57, BeforeLines = 200, AfterErrorLines = 3, AfterLines = 240 });

        var item = Item(state, attempt);

        Assert.True(item.Done);
        Assert.Equal("Post-Rollback Verification", item.Section);
        Assert.Equal("3 error lines in 240 after the rollback against 57 in 200 before", item.Evidence);
    }

    [Fact]
    public void A_spike_in_the_logs_leaves_it_unticked_even_when_a_measurement_passed()
    {
        using var temp = new TempDirectory();
        var state = StateRoot.Open(temp.Path);
        var attempt = Attempt(DateTimeOffset.UtcNow);
        Compared(state, attempt, new LogComparison { Verdict = LogVerdict.Spike, BeforeErrorLines = 2, BeforeLines = 200, AfterErrorLines = 30, AfterLines = 40 });
        Measured(state, attempt, attempt.CompletedAt.AddSeconds(30), passed: true);

        var item = Item(state, attempt);

        Assert.False(item.Done);
        Assert.StartsWith("spike: 30 error lines in 40 after the rollback against 2 in 200 before; 1 Prometheus measurement(s) after the rollback passed", item.Evidence);
    }

    [Fact]
    public void Without_logs_a_passing_Prometheus_measurement_after_the_attempt_ticks_it_and_a_failing_one_is_a_spike()
    {
        using var temp = new TempDirectory();
        var state = StateRoot.Open(temp.Path);
        var attempt = Attempt(DateTimeOffset.UtcNow);
        Compared(state, attempt, LogComparison.NoEvidence("the target had no container or pod to read logs from after the rollback", Array.Empty<string>(), TimeSpan.FromSeconds(9)));
        // Before the attempt ended, and one that could not be taken, and another probe's: none counts.
        Measured(state, attempt, attempt.CompletedAt.AddSeconds(-5), passed: false);
        Measured(state, attempt, attempt.CompletedAt.AddSeconds(20), passed: false, error: "connection refused");
        Measured(state, attempt, attempt.CompletedAt.AddSeconds(25), passed: false, probe: "http");
        Measured(state, attempt, attempt.CompletedAt.AddSeconds(30), passed: true);

        var ticked = Item(state, attempt);
        Measured(state, attempt, attempt.CompletedAt.AddSeconds(60), passed: false);
        var spike = Item(state, attempt);

        Assert.True(ticked.Done);
        Assert.Equal("no evidence: the target had no container or pod to read logs from after the rollback; 1 Prometheus measurement(s) after the rollback passed (sum(rate(http_requests_total{code=~\"5..\"}[1m])) = 0.01, wanted < 0.05)", ticked.Evidence);
        Assert.False(spike.Done);
        Assert.Contains("spike: 1 of 2 Prometheus measurement(s) after the rollback failed (sum(rate(http_requests_total{code=~\"5..\"}[1m])) = 0.2, wanted < 0.05)", spike.Evidence);
    }

    [Fact]
    public void A_measurement_after_the_next_attempt_began_belongs_to_that_one()
    {
        using var temp = new TempDirectory();
        var state = StateRoot.Open(temp.Path);
        var attempt = Attempt(DateTimeOffset.UtcNow.AddMinutes(-10));
        var next = new RollbackResult { AttemptId = "logs0002", Strategy = "Container", TargetKey = attempt.TargetKey, StartedAt = attempt.CompletedAt.AddMinutes(1) };
        state.Journal.StartAttempt(next);
        Measured(state, attempt, next.StartedAt.AddSeconds(5), passed: true);

        Assert.False(Item(state, attempt).Done);
    }

    [Fact]
    public void With_no_evidence_it_says_so_plainly()
    {
        using var temp = new TempDirectory();
        var state = StateRoot.Open(temp.Path);
        var attempt = Attempt(DateTimeOffset.UtcNow);

        var item = Item(state, attempt);

        Assert.False(item.Done);
        Assert.Equal("no evidence: the strategy's logs were not read and no Prometheus measurement was taken; check the service's logs", item.Evidence);
    }

    [Fact]
    public void Logs_that_are_no_evidence_say_why_and_that_nothing_was_measured()
    {
        using var temp = new TempDirectory();
        var state = StateRoot.Open(temp.Path);
        var attempt = Attempt(DateTimeOffset.UtcNow);
        Compared(state, attempt, LogComparison.NoEvidence("the target's logs could not be read after the rollback (engine gone)", Array.Empty<string>(), TimeSpan.FromSeconds(9)));

        var item = Item(state, attempt);

        Assert.False(item.Done);
        Assert.Equal("no evidence: the target's logs could not be read after the rollback (engine gone); no Prometheus measurement was taken; check the service's logs", item.Evidence);
    }

    [Fact]
    public void A_plan_shows_each_components_logs()
    {
        using var temp = new TempDirectory();
        var state = StateRoot.Open(temp.Path);
        var started = DateTimeOffset.UtcNow;
        var web = Attempt(started);
        var plan = new RollbackResult
        {
            AttemptId = "plan0001", Strategy = "Plan", TargetKey = "plan:shop", StartedAt = started, CompletedAt = started.AddSeconds(30), Outcome = RollbackOutcome.Succeeded,
            Components =
            {
                new ComponentOutcome { Name = "web", TargetKey = "container:web", AttemptId = "logs0001" },
                new ComponentOutcome { Name = "db", TargetKey = "database:shop", AttemptId = "db000001" },
            },
        };
        Compared(state, web, new LogComparison { Verdict = LogVerdict.NoSpike, BeforeErrorLines = 4, BeforeLines = 10, AfterErrorLines = 0, AfterLines = 6 });

        var item = Item(state, plan);

        Assert.True(item.Done);
        Assert.Equal("web: 0 error lines in 6 after the rollback against 4 in 10 before", item.Evidence);
    }

    [Fact]
    public void The_report_shows_the_checklist_with_its_evidence_in_Markdown_JSON_and_HTML()
    {
        using var temp = new TempDirectory();
        var state = StateRoot.Open(temp.Path);
        var attempt = Attempt(DateTimeOffset.UtcNow);
        state.Journal.StartAttempt(attempt);
        state.Journal.CompleteAttempt(attempt);
        Compared(state, attempt, new LogComparison { Verdict = LogVerdict.NoSpike, BeforeErrorLines = 57, BeforeLines = 200, AfterErrorLines = 3, AfterLines = 240 });

        var report = IncidentReportWriter.Write(state, attempt, null, html: true);

        var markdown = File.ReadAllText(report.MarkdownPath);
        Assert.Contains("## Checklist", markdown);
        Assert.Contains("- [x] No error spikes in logs: 3 error lines in 240 after the rollback against 57 in 200 before\n", markdown);
        Assert.Contains("- [x] Incident documented: ", markdown);
        using var json = JsonDocument.Parse(File.ReadAllText(report.JsonPath));
        var item = json.RootElement.GetProperty("report").GetProperty("Checklist").EnumerateArray().Single(i => i.GetProperty("Item").GetString() == Spikes);
        Assert.True(item.GetProperty("Done").GetBoolean());
        Assert.Equal("3 error lines in 240 after the rollback against 57 in 200 before", item.GetProperty("Evidence").GetString());
        Assert.Contains("3 error lines in 240 after the rollback against 57 in 200 before", File.ReadAllText(report.HtmlPath!));
    }
}
