using DeploymentRollback.Engine;
using Xunit;

namespace DeploymentRollback.Tests.Integration.Core;

/// <summary>The local journal's pooled connections: kept within one store's life, and the lock rows' durability kept to them.</summary>
public sealed class JournalConnectionTests
{
    [Fact]
    public async Task The_journal_file_is_closed_once_its_store_is_disposed()
    {
        Assert.True(OperatingSystem.IsLinux(), "This test reads /proc/self/fd.");
        using var temp = new TempDirectory();
        var state = StateRoot.Open(temp.Path);
        await using (await state.Store.AcquireLockAsync("git:/srv/app", TimeSpan.FromSeconds(5), new RecordingObserver(), CancellationToken.None))
        {
            state.Journal.AddEvent(new JournalEvent("git:/srv/app", null, DateTimeOffset.UtcNow, "Test", "{}"));
            Assert.Single(state.Journal.GetEvents("git:/srv/app"));
        }

        Assert.NotEmpty(OpenHandlesOn(state.JournalPath));
        state.Dispose();
        Assert.Empty(OpenHandlesOn(state.JournalPath));
    }

    [Fact]
    public async Task Only_the_lock_rows_commit_without_waiting_for_the_disk()
    {
        using var temp = new TempDirectory();
        using var state = StateRoot.Open(temp.Path);
        var journal = Assert.IsType<SqliteJournal>(state.Journal);
        await using (await state.Store.AcquireLockAsync("git:/srv/app", TimeSpan.FromSeconds(5), new RecordingObserver(), CancellationToken.None))
        {
            state.Journal.AddEvent(new JournalEvent("git:/srv/app", null, DateTimeOffset.UtcNow, "Test", "{}"));
            // SQLite's values: 1 NORMAL, 2 FULL.
            Assert.Equal(1, journal.PragmaSetting("synchronous", lockRows: true));
            Assert.Equal(2, journal.PragmaSetting("synchronous", lockRows: false));
        }

        Assert.Equal(2, journal.PragmaSetting("synchronous", lockRows: false));
    }

    [Fact]
    public void Every_connection_waits_for_a_locked_journal_inside_SQLite()
    {
        using var temp = new TempDirectory();
        using var state = StateRoot.Open(temp.Path);
        var journal = Assert.IsType<SqliteJournal>(state.Journal);
        state.Journal.AddEvent(new JournalEvent("git:/srv/app", null, DateTimeOffset.UtcNow, "Test", "{}"));

        Assert.Equal(30000, journal.PragmaSetting("busy_timeout", lockRows: true));
        Assert.Equal(30000, journal.PragmaSetting("busy_timeout", lockRows: false));
    }

    [Fact]
    public void A_journal_replaced_between_two_commands_of_one_process_is_read_anew()
    {
        using var temp = new TempDirectory();
        // The first command's store is left undisposed, as a crashed or careless caller would leave it.
        var first = StateRoot.Open(temp.Path);
        first.Journal.AddEvent(new JournalEvent("git:/srv/app", null, DateTimeOffset.UtcNow, "Before", "{}"));
        Assert.Single(first.Journal.GetEvents("git:/srv/app"));

        // An admin moves the journal aside (as the error for a damaged one tells them to); the next command starts a new one.
        foreach (var file in Directory.GetFiles(temp.Path, "journal.db*"))
        {
            File.Move(file, file + ".aside");
        }

        using var second = StateRoot.Open(temp.Path);
        Assert.Empty(second.Journal.GetEvents("git:/srv/app"));
        second.Journal.AddEvent(new JournalEvent("git:/srv/app", null, DateTimeOffset.UtcNow, "After", "{}"));
        Assert.Equal("After", Assert.Single(second.Journal.GetEvents("git:/srv/app")).Kind);
        first.Dispose();
    }

    private static List<string> OpenHandlesOn(string journalPath) =>
        Directory.GetFiles("/proc/self/fd")
            .Select(fd => { try { return new FileInfo(fd).LinkTarget; } catch (IOException) { return null; } })
            .Where(target => target is not null && target.StartsWith(journalPath, StringComparison.Ordinal))
            .Select(target => target!)
            .ToList();
}
