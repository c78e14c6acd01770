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
}
