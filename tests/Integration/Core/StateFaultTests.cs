using System.Diagnostics;
using DeploymentRollback.Engine;
using Microsoft.Data.Sqlite;
using Xunit;

namespace DeploymentRollback.Tests.Integration.Core;

/// <summary>A real mount (tmpfs of a given size, or a read-only bind of a folder onto itself), unmounted on dispose.</summary>
public sealed class TestMount : IDisposable
{
    private static readonly Lazy<string?> Probe = new(() =>
    {
        if (!OperatingSystem.IsLinux() || Environment.UserName != "root")
        {
            return "Mounting a tmpfs or a read-only folder needs root on Linux.";
        }

        using var temp = new TempDirectory();
        try
        {
            using var mount = Tmpfs(temp.Path, 64);
            return null;
        }
        catch (InvalidOperationException e)
        {
            return "mount -t tmpfs failed here: " + e.Message;
        }
    });

    private readonly string path;

    private TestMount(string path)
    {
        this.path = path;
    }

    public static string? Unavailable => Probe.Value;

    public static TestMount Tmpfs(string path, int kilobytes)
    {
        Directory.CreateDirectory(path);
        Run("mount", "-t", "tmpfs", "-o", $"size={kilobytes}k", "tmpfs", path);
        return new TestMount(path);
    }

    public static TestMount ReadOnly(string path)
    {
        Run("mount", "--bind", path, path);
        var mount = new TestMount(path);
        Run("mount", "-o", "remount,ro,bind", path);
        return mount;
    }

    /// <summary>Writes a filler file until the file system has no block left.</summary>
    public static void Fill(string folder)
    {
        using var filler = new FileStream(System.IO.Path.Combine(folder, "filler"), FileMode.Create);
        var block = new byte[4096];
        try
        {
            while (true)
            {
                filler.Write(block);
                filler.Flush();
            }
        }
        catch (IOException)
        {
        }
    }

    public void Dispose() => Run("umount", "-l", path);

    private static void Run(string file, params string[] arguments)
    {
        var start = new ProcessStartInfo(file) { RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start)!;
        var error = process.StandardError.ReadToEnd();
        process.WaitForExit();
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{file} {string.Join(' ', arguments)}: {error.Trim()}");
        }
    }
}

public sealed class StateFaultTests : IDisposable
{
    private static readonly TimeSpan Hang = TimeSpan.FromSeconds(15);
    private readonly TempDirectory temp = new();

    public void Dispose() => temp.Dispose();

    private static RollbackResult Attempt(string target = "git:/srv/app") => new()
    {
        AttemptId = Guid.NewGuid().ToString("N")[..12], Strategy = "Git", TargetKey = target, Path = "/srv/app",
        StartedAt = DateTimeOffset.UtcNow, AttemptNumber = 1, FromVersion = "v2", ToVersion = "v1",
    };

    private static async Task<T> WithinAsync<T>(Func<T> work)
    {
        var task = Task.Run(work);
        var finished = await Task.WhenAny(task, Task.Delay(Hang));
        Assert.True(finished == task, $"The call did not return within {Hang.TotalSeconds} s.");
        return await task;
    }

    private static Task<RollbackSignal> EmitAsync(StateRoot state, string name = SignalNames.DeploymentFailed, string? subject = null) =>
        new SignalStore(state).EmitAsync(name, new Dictionary<string, object?> { ["reason"] = "test" }, subject, null, SilentObserver.Instance, CancellationToken.None);

    private static Task<RollbackCheckpoint> CheckpointAsync(StateRoot state, string name, string target = "config:/srv/app.yml", string file = "app.yml") =>
        new CheckpointStore(state).CreateAsync(name, "Config", target, "/srv/" + file, writer =>
        {
            writer.AddText(file, "setting: 1\n");
            return Task.FromResult(new VersionIdentity("sha256:1", null));
        });

    [Fact]
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    public async Task AJournalThatIsAPipeIsRefusedInsteadOfWaitedOn()
    {
        var state = StateRoot.Open(temp.Combine("state"));
        Fifo.Make(state.JournalPath);

        var error = await WithinAsync(() => Assert.Throws<RollbackException>(() => state.Journal.GetAttempts()));

        Assert.Equal(ErrorIds.StateFileUnusable, error.ErrorId);
        Assert.Contains(state.JournalPath, error.Message);
    }

    [Fact]
    public void GarbageJournalIsReportedAsCorruptWithItsPath()
    {
        var state = StateRoot.Open(temp.Combine("state"));
        File.WriteAllText(state.JournalPath, string.Concat(Enumerable.Repeat("not a database ", 500)));

        var error = Assert.Throws<RollbackException>(() => state.Journal.GetAttempts());

        Assert.Equal(ErrorIds.JournalCorrupt, error.ErrorId);
        Assert.Contains(state.JournalPath, error.Message);
    }

    [Fact]
    public void TruncatedJournalIsReportedAsCorrupt()
    {
        // The command that wrote it has ended (its store disposed, so its connections are closed and the WAL is merged).
        using (var state = StateRoot.Open(temp.Combine("state")))
        {
            for (var i = 0; i < 200; i++)
            {
                var attempt = Attempt();
                attempt.Message = new string('x', 500);
                state.Journal.StartAttempt(attempt);
            }
        }

        var journalPath = Path.Combine(temp.Combine("state"), "journal.db");
        using (var journal = new FileStream(journalPath, FileMode.Open))
        {
            journal.SetLength(journal.Length / 2);
        }

        var error = Assert.Throws<RollbackException>(() => new SqliteJournal(journalPath).GetAttempts());

        Assert.Equal(ErrorIds.JournalCorrupt, error.ErrorId);
        Assert.Contains(journalPath, error.Message);
    }

    [Fact]
    public void UnreadableRowIsReportedAsCorrupt()
    {
        var state = StateRoot.Open(temp.Combine("state"));
        state.Journal.StartAttempt(Attempt());
        using (var connection = new SqliteConnection($"Data Source={state.JournalPath};Pooling=False"))
        {
            connection.Open();
            using var command = connection.CreateCommand();
            command.CommandText = "UPDATE attempts SET result_json = '{not json'";
            command.ExecuteNonQuery();
        }

        var error = Assert.Throws<RollbackException>(() => state.Journal.GetAttempts());

        Assert.Equal(ErrorIds.JournalCorrupt, error.ErrorId);
        Assert.Contains(state.JournalPath, error.Message);
    }

    [Fact]
    public async Task OtherFileFaultsAreReportedAsUnusableWithTheirPath()
    {
        var state = StateRoot.Open(temp.Combine("state"));
        Directory.CreateDirectory(state.JournalPath);
        Directory.Delete(state.SignalsDirectory);
        File.WriteAllText(state.SignalsDirectory, "a file where the signals folder should be");

        var journal = Assert.Throws<RollbackException>(() => state.Journal.GetAttempts());
        var signal = await Assert.ThrowsAsync<RollbackException>(() => EmitAsync(state));

        Assert.Equal(ErrorIds.StateFileUnusable, journal.ErrorId);
        Assert.Contains(state.JournalPath, journal.Message);
        Assert.Equal(ErrorIds.StateFileUnusable, signal.ErrorId);
        Assert.Contains(state.SignalsDirectory, signal.Message);
    }

    [Fact]
    public async Task LockHeldByAnotherStillWaitsThenTimesOut()
    {
        var state = StateRoot.Open(temp.Combine("state"));
        using var held = await state.Store.AcquireLockAsync("git:/srv/app", TimeSpan.Zero, SilentObserver.Instance, CancellationToken.None);

        var error = await Assert.ThrowsAsync<RollbackException>(() => state.Store.AcquireLockAsync("git:/srv/app", TimeSpan.FromMilliseconds(500), SilentObserver.Instance, CancellationToken.None));

        Assert.Equal(ErrorIds.RollbackLockTimeout, error.ErrorId);
    }

    [RequiresFact(Component.Mount)]
    public async Task LockInReadOnlyFolderFailsAtOnce()
    {
        var state = StateRoot.Open(temp.Combine("state"));
        using var mount = TestMount.ReadOnly(state.Directory);
        var clock = Stopwatch.StartNew();

        var error = await Assert.ThrowsAsync<RollbackException>(() => state.Store.AcquireLockAsync("git:/srv/app", TimeSpan.FromSeconds(10), SilentObserver.Instance, CancellationToken.None));

        Assert.Equal(ErrorIds.StateReadOnly, error.ErrorId);
        Assert.Contains(state.LocksDirectory, error.Message);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5), $"took {clock.Elapsed}");
    }

    [RequiresFact(Component.Mount)]
    public async Task LockOnFullDiskFailsAtOnceAndKeepsNoHandle()
    {
        var root = temp.Combine("disk");
        using var mount = TestMount.Tmpfs(root, 256);
        var state = StateRoot.Open(System.IO.Path.Combine(root, "state"));
        TestMount.Fill(root);
        var clock = Stopwatch.StartNew();

        var error = await Assert.ThrowsAsync<RollbackException>(() => state.Store.AcquireLockAsync("git:/srv/app", TimeSpan.FromSeconds(10), SilentObserver.Instance, CancellationToken.None));

        Assert.Equal(ErrorIds.StateDiskFull, error.ErrorId);
        Assert.Contains(state.LocksDirectory, error.Message);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5), $"took {clock.Elapsed}");

        // Space freed: the lock is free at once, no handle of the failed attempt holds it.
        File.Delete(System.IO.Path.Combine(root, "filler"));
        using var next = await state.Store.AcquireLockAsync("git:/srv/app", TimeSpan.Zero, SilentObserver.Instance, CancellationToken.None);
    }

    [RequiresFact(Component.Mount)]
    public async Task WritesOnFullDiskAreReportedAsDiskFull()
    {
        var root = temp.Combine("disk");
        using var mount = TestMount.Tmpfs(root, 512);
        var state = StateRoot.Open(System.IO.Path.Combine(root, "state"));
        state.Journal.StartAttempt(Attempt());
        TestMount.Fill(root);

        var journal = Assert.Throws<RollbackException>(() =>
        {
            for (var i = 0; i < 100; i++)
            {
                state.Journal.AddEvent(new JournalEvent("git:/srv/app", null, DateTimeOffset.UtcNow, JournalEventKinds.Assessed, new string('x', 4000)));
            }
        });
        var signal = await Assert.ThrowsAsync<RollbackException>(() => EmitAsync(state));
        var checkpoint = await Assert.ThrowsAsync<RollbackException>(() => CheckpointAsync(state, "pre-rollback-1"));

        Assert.Equal(ErrorIds.StateDiskFull, journal.ErrorId);
        Assert.Contains(state.JournalPath, journal.Message);
        Assert.Equal(ErrorIds.StateDiskFull, signal.ErrorId);
        Assert.Contains(state.SignalsDirectory, signal.Message);
        Assert.Equal(ErrorIds.StateDiskFull, checkpoint.ErrorId);
        Assert.Contains(state.CheckpointsDirectory, checkpoint.Message);
        Assert.Empty(Directory.EnumerateFileSystemEntries(state.SignalsDirectory));
        Assert.Empty(Directory.EnumerateDirectories(state.CheckpointsDirectory));
    }

    [RequiresFact(Component.Mount)]
    public void JournalInReadOnlyFolderIsReportedAsReadOnly()
    {
        var state = StateRoot.Open(temp.Combine("state"));
        state.Journal.StartAttempt(Attempt());
        using var mount = TestMount.ReadOnly(state.Directory);

        var error = Assert.Throws<RollbackException>(() => new SqliteJournal(state.JournalPath).StartAttempt(Attempt()));

        Assert.Equal(ErrorIds.StateReadOnly, error.ErrorId);
        Assert.Contains(state.JournalPath, error.Message);
    }

    [Fact]
    public async Task SignalReaderSkipsPipesAndForeignFiles()
    {
        var state = StateRoot.Open(temp.Combine("state"));
        var good = await EmitAsync(state);
        var signals = state.SignalsDirectory;
        Fifo.Make(System.IO.Path.Combine(signals, "00-pipe.json"));
        File.WriteAllText(System.IO.Path.Combine(signals, "01-base64.json"),
            """{"specversion":"1.0","id":"x","source":"urn:x","type":"io.deploymentrollback.signal.DEPLOYMENT_FAILED","data_base64":"!!!"}""");
        File.WriteAllText(System.IO.Path.Combine(signals, "02-foreign.json"), """{"hello":"world"}""");
        File.WriteAllText(System.IO.Path.Combine(signals, "03-garbage.json"), "\u0001\u0002 not json");
        File.WriteAllText(System.IO.Path.Combine(signals, "04-empty.json"), "");
        File.WriteAllText(System.IO.Path.Combine(signals, "05-array.json"), "[1, 2]");

        var read = await WithinAsync(() => new SignalStore(state).Read());

        Assert.Equal(good.Id, Assert.Single(read).Id);
    }

    [Fact]
    public async Task CheckpointListSkipsCorruptAndPipeManifests()
    {
        var state = StateRoot.Open(temp.Combine("state"));
        var good = await CheckpointAsync(state, "good");
        Directory.CreateDirectory(System.IO.Path.Combine(state.CheckpointsDirectory, "garbage"));
        File.WriteAllText(System.IO.Path.Combine(state.CheckpointsDirectory, "garbage", "manifest.json"), "garbage");
        Directory.CreateDirectory(System.IO.Path.Combine(state.CheckpointsDirectory, "null"));
        File.WriteAllText(System.IO.Path.Combine(state.CheckpointsDirectory, "null", "manifest.json"), "null");
        Directory.CreateDirectory(System.IO.Path.Combine(state.CheckpointsDirectory, "pipe"));
        Fifo.Make(System.IO.Path.Combine(state.CheckpointsDirectory, "pipe", "manifest.json"));

        var listed = await WithinAsync(() => new CheckpointStore(state).List());

        Assert.Equal(good.Name, Assert.Single(listed).Name);
    }

    [Fact]
    public async Task CheckpointReservationHoldsAcrossStoresOfOneFolder()
    {
        // Separate StateRoot and CheckpointStore instances, as separate processes have: each reservation gets its own folder.
        var directory = temp.Combine("state");
        var created = await Task.WhenAll(Enumerable.Range(0, 40).Select(i => Task.Run(() =>
            CheckpointAsync(StateRoot.Open(directory), "pre-rollback-1", $"config:/srv/app{i}.yml", $"app{i}.yml"))));

        Assert.Equal(40, created.Select(c => c.Folder).Distinct().Count());
        foreach (var checkpoint in created)
        {
            Assert.Equal(checkpoint.Artefacts, Directory.EnumerateFiles(checkpoint.Folder).Select(f => System.IO.Path.GetFileName(f)!).Where(f => f != "manifest.json").ToArray());
        }
    }
}
