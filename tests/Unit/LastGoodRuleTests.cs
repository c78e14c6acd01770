using DeploymentRollback.Engine;
using Xunit;

namespace DeploymentRollback.Tests.Unit;

/// <summary>The last-good rule against a journal on disk and a strategy whose versions are a plain list.</summary>
public class LastGoodRuleTests
{
    private const string Key = "memory:app";

    /// <summary>Versions v1..vN, all still available, the target at current; v0 is gone.</summary>
    private sealed class ListVersions(string current, bool staysOnNewestVerified = false) : ILastGoodHooks
    {
        public string? Locate(string version, string? recordedIdentity) => version == "v0" ? null : version;
        public bool IsCurrent(string identity) => identity == current;
        public bool StaysOnNewestVerified => staysOnNewestVerified;
        public LastGood? Fallback(IReadOnlySet<string> rolledBackFrom) =>
            new[] { "v2", "v1" }.FirstOrDefault(v => v != current && !rolledBackFrom.Contains(v)) is { } previous ? new LastGood(previous, previous, "the previous version") : null;
    }

    private static Journal NewJournal(TempDirectory temp, params string[] verifiedOldestFirst)
    {
        var journal = StateRoot.Open(temp.Combine("state")).Journal;
        var at = DateTimeOffset.UtcNow.AddHours(-1);
        foreach (var version in verifiedOldestFirst)
        {
            at = at.AddMinutes(1);
            journal.RecordVerified(new VerifiedVersion { TargetKey = Key, Strategy = "Memory", Version = version, Commit = version, RecordedAt = at, Evidence = "test" });
        }

        return journal;
    }

    private static void Attempt(Journal journal, string from, string to, RollbackOutcome outcome)
    {
        var attempt = new RollbackResult { AttemptId = Guid.NewGuid().ToString("N"), TargetKey = Key, Strategy = "Memory", FromVersion = from, ToVersion = to, Outcome = outcome, StartedAt = DateTimeOffset.UtcNow };
        journal.StartAttempt(attempt);
        journal.CompleteAttempt(attempt);
    }

    [Fact]
    public void Takes_the_newest_verified_version_that_is_not_current_and_still_there()
    {
        using var temp = new TempDirectory();
        var journal = NewJournal(temp, "v1", "v0", "v3");

        Assert.Equal("v1", LastGoodRule.Find(journal, Key, "Memory", new ListVersions(current: "v3"))?.Version);
        Assert.Equal("v3", LastGoodRule.Find(journal, Key, "Memory", new ListVersions(current: "v4"))?.Version);
    }

    [Fact]
    public void A_target_at_its_newest_verified_version_stays_there_when_the_strategy_says_so()
    {
        using var temp = new TempDirectory();
        var journal = NewJournal(temp, "v1", "v3");

        var stays = LastGoodRule.Find(journal, Key, "Memory", new ListVersions(current: "v3", staysOnNewestVerified: true));
        var goesBack = LastGoodRule.Find(journal, Key, "Memory", new ListVersions(current: "v3"));

        Assert.Equal(("v3", "v3"), (stays?.Version, stays?.Identity));
        Assert.Equal("v1", goesBack?.Version);
    }

    [Fact]
    public void A_rerun_stays_where_the_last_attempt_went_and_never_goes_to_a_version_rolled_back_from()
    {
        using var temp = new TempDirectory();
        var journal = NewJournal(temp, "v2");
        Attempt(journal, from: "v2", to: "v1", RollbackOutcome.Succeeded);

        var rerun = LastGoodRule.Find(journal, Key, "Memory", new ListVersions(current: "v1"));
        var fallback = LastGoodRule.Find(journal, Key, "Memory", new ListVersions(current: "v3"));

        Assert.Equal("v1", rerun?.Version);
        Assert.Equal("the version the last rollback went to", rerun?.Source);
        // v2 was verified good, but a rollback went away from it: the fallback's previous version after it is v1.
        Assert.Equal("v1", fallback?.Version);
    }

    [Fact]
    public void Without_a_record_or_a_fallback_there_is_no_target()
    {
        using var temp = new TempDirectory();
        var journal = NewJournal(temp);

        Assert.Null(LastGoodRule.Find(journal, Key, "Memory", new NoFallback(new ListVersions(current: "v2"))));
    }

    private sealed class NoFallback(ILastGoodHooks inner) : ILastGoodHooks
    {
        public string? Locate(string version, string? recordedIdentity) => inner.Locate(version, recordedIdentity);
        public bool IsCurrent(string identity) => inner.IsCurrent(identity);
        public LastGood? Fallback(IReadOnlySet<string> rolledBackFrom) => null;
    }
}
