using DeploymentRollback.Engine;
using Xunit;

namespace DeploymentRollback.Tests.Unit;

public class SignalReadTests
{
    private sealed class Warnings : IRollbackObserver
    {
        public List<string> Seen { get; } = new();
        public void Progress(ProgressUpdate update) { }
        public void Verbose(string message) { }
        public void Warning(string message) => Seen.Add(message);
        public Task<bool> ShouldProcessAsync(string target, string action) => Task.FromResult(true);
    }

    [Fact]
    public async Task Signals_older_than_asked_for_are_not_read_at_all_while_foreign_files_still_are()
    {
        using var temp = new TempDirectory();
        var state = StateRoot.Open(temp.Path);
        var store = new SignalStore(state);
        var old = await store.EmitAsync(SignalNames.DeploymentFailed, new Dictionary<string, object?> { ["reason"] = "old" }, "git:/srv/app", null, SilentObserver.Instance, CancellationToken.None);
        // An old file of this module's naming that no longer decodes: with a later 'since' it is never opened.
        File.WriteAllText(Path.Combine(state.SignalsDirectory, "20200101T000000000000Z-DEPLOYMENT_FAILED-deadbeef.json"), "not json");
        File.WriteAllText(Path.Combine(state.SignalsDirectory, "notes.json"), "not a signal");
        await Task.Delay(1100);
        var since = DateTimeOffset.UtcNow;
        var recent = await store.EmitAsync(SignalNames.HealthCheckFailed, new Dictionary<string, object?> { ["reason"] = "new" }, "git:/srv/app", null, SilentObserver.Instance, CancellationToken.None);

        var warnings = new Warnings();
        var read = store.Read(since: since, observer: warnings);
        Assert.Equal(recent.Id, Assert.Single(read).Id);
        Assert.Single(warnings.Seen);
        Assert.Contains("notes.json", warnings.Seen[0]);

        var all = new Warnings();
        Assert.Equal(new[] { old.Id, recent.Id }, store.Read(observer: all).Select(s => s.Id));
        Assert.Equal(2, all.Seen.Count);
    }

    [Fact]
    public async Task Signals_of_other_names_are_not_read_at_all_when_names_are_asked_for()
    {
        using var temp = new TempDirectory();
        var state = StateRoot.Open(temp.Path);
        var store = new SignalStore(state);
        var started = await store.EmitAsync(SignalNames.RollbackStarted, new Dictionary<string, object?> { ["attempt_id"] = "a1" }, "git:/srv/app", null, SilentObserver.Instance, CancellationToken.None);
        var failed = await store.EmitAsync(SignalNames.DeploymentFailed, new Dictionary<string, object?> { ["reason"] = "bad" }, "git:/srv/app", null, SilentObserver.Instance, CancellationToken.None);
        // Files of this module's naming that no longer decode: the one named after another signal is never opened.
        File.WriteAllText(Path.Combine(state.SignalsDirectory, "20991231T235959000000" + "0Z-ROLLBACK_COMPLETE-deadbeef.json"), "not json");
        File.WriteAllText(Path.Combine(state.SignalsDirectory, "20991231T235959000000" + "1Z-DEPLOYMENT_FAILED-deadbee2.json"), "not json");

        var warnings = new Warnings();
        var inputs = store.Read(SignalNames.Inputs, observer: warnings);
        Assert.Equal(failed.Id, Assert.Single(inputs).Id);
        Assert.Contains("DEPLOYMENT_FAILED-deadbee2.json", Assert.Single(warnings.Seen));

        // Without names every file is read, as before.
        var all = new Warnings();
        Assert.Equal(new[] { started.Id, failed.Id }, store.Read(observer: all).Select(s => s.Id));
        Assert.Equal(2, all.Seen.Count);
    }

    [Theory]
    [InlineData("20261204T1518061209322Z-ROLLBACK_STARTED-b41379fc.json", "ROLLBACK_STARTED")]
    [InlineData("20261204T1518061209322Z-X1-b41379fc.json", "X1")]
    [InlineData("20261204T1518061209322Z-rollback_started-b41379fc.json", null)]
    [InlineData("20261204T151806-ROLLBACK_STARTED-b41379fc.json", null)]
    [InlineData("20261204T1518061209322Z-ROLLBACK_STARTED-b41379fc.json.tmp", null)]
    [InlineData("notes.json", null)]
    public void A_signal_name_is_taken_only_from_a_file_name_as_the_module_writes_it(string fileName, string? name) =>
        Assert.Equal(name, SignalStore.NameInFileName(fileName));
}
