using DeploymentRollback.Engine;
using Xunit;

namespace DeploymentRollback.Tests.Integration.Core;

/// <summary>
/// A journal event whose detail is not the JSON it should be (a torn write, a disk fault, a hand edit) is passed over
/// by the readers of history: the rollback still runs on a real repository and SQLite journal, and says what it knows.
/// </summary>
public class DamagedRecordTests
{
    private const string Torn = "{\"FailureType\":\"Heal";

    [Fact]
    public async Task A_damaged_newer_assessment_record_is_passed_over_for_the_older_readable_one()
    {
        using var git = new GitFixture().WithReleases();
        using var server = new LocalHttpServer((_, _) => (503, "down"));
        var check = new HealthCheckOptions { Uri = new Uri(server.Url()), Retries = 0 };
        var assessment = await RollbackEngine.AssessAsync(
            new RollbackRequest { Deployment = new GitTarget { Path = git.RepoPath }, Verification = new VerificationOptions { HealthChecks = new[] { check } } }, git.Context());
        Assert.Equal(FailureType.HealthCheckFailed, assessment.FailureType);
        git.State().Journal.AddEvent(new JournalEvent(assessment.TargetKey, null, DateTimeOffset.UtcNow, JournalEventKinds.Assessed, Torn));

        var result = await RollbackEngine.InvokeAsync(new RollbackRequest { Deployment = new GitTarget { Path = git.RepoPath }, Target = "v2.3.0" }, git.Context());

        Assert.Equal(RollbackOutcome.Succeeded, result!.Outcome);
        Assert.Equal(FailureType.HealthCheckFailed, result.FailureType);
        Assert.True(Checklist.Build(git.State(), result).Single(i => i.Item == "Confirmed deployment failure").Done);
        var report = IncidentReportWriter.Write(git.State(), result, git.Temp.Combine("incident.md"));
        Assert.Contains("v2.3.0", report.WhatWasRolledBack);
        Assert.Contains("v2.3.0", File.ReadAllText(git.Temp.Combine("incident.md")));
    }

    [Fact]
    public async Task An_interrupted_attempt_whose_step_record_is_damaged_is_still_closed_and_says_so()
    {
        using var git = new GitFixture().WithReleases();
        var journal = git.State().Journal;
        var attempt = new RollbackResult
        {
            AttemptId = "0123456789ab", Strategy = "Git", TargetKey = "git:" + git.RepoPath, Path = git.RepoPath,
            FromVersion = "v2.3.1", ToVersion = "v2.3.0", AttemptNumber = 1, StartedAt = DateTimeOffset.UtcNow.AddMinutes(-5),
        };
        journal.StartAttempt(attempt);
        journal.AddEvent(new JournalEvent(attempt.TargetKey, attempt.AttemptId, DateTimeOffset.UtcNow.AddMinutes(-4), InterruptedAttempts.StepStarted, "{\"Step\":"));
        var observer = new RecordingObserver();

        var result = await RollbackEngine.InvokeAsync(new RollbackRequest { Deployment = new GitTarget { Path = git.RepoPath }, Target = "v2.3.0" }, git.Context(observer));

        Assert.Equal(RollbackOutcome.Succeeded, result!.Outcome);
        Assert.Contains(observer.Messages, m => m.Contains("interrupted during a step whose journal record is damaged"));
        Assert.Empty(journal.GetRunningAttempts(attempt.TargetKey));
        Assert.Equal(RollbackOutcome.Interrupted, journal.GetAttempts(attemptId: attempt.AttemptId).Single().Outcome);
    }
}
