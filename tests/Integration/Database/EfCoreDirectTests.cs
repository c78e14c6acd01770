using System.Text.Json.Nodes;
using DeploymentRollback.Engine;
using Xunit;

namespace DeploymentRollback.Tests.Integration.Database;

/// <summary>
/// EF Core's inner tool started directly: a rollback starts dotnet ef (and its MSBuild evaluation) once and ef.dll for
/// the rest; the next run starts no dotnet ef at all; a changed project, a damaged or stale kept invocation each cost one
/// dotnet ef start again and nothing else. The calls are counted by a -ToolPath wrapper around dotnet that logs each one.
/// </summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public class EfCoreDirectTests
{
    private static (string Path, string Log) Wrapper(string folder)
    {
        var log = Path.Combine(folder, "calls.log");
        var path = Path.Combine(folder, "counted-dotnet");
        File.WriteAllText(path, $"#!/bin/sh\necho \"$1 $2\" >> '{log}'\nexec dotnet \"$@\"\n");
        File.SetUnixFileMode(path, File.GetUnixFileMode(path) | UnixFileMode.UserExecute);
        return (path, log);
    }

    /// <summary>The calls since the last look: how many went through dotnet ef, how many started ef.dll directly.</summary>
    private static (int DotnetEf, int Direct) Calls(string log)
    {
        var lines = File.Exists(log) ? File.ReadAllLines(log) : Array.Empty<string>();
        File.Delete(log);
        return (lines.Count(l => l.StartsWith("ef ", StringComparison.Ordinal)), lines.Count(l => l.StartsWith("exec ", StringComparison.Ordinal)));
    }

    private static async Task RollBackAsync(EfCoreProject project, string dotnet)
    {
        var result = await RollbackEngine.InvokeAsync(project.Request("InitialCreate").WithTarget<DatabaseTarget>(t => t with { ToolPath = dotnet }), project.Git.Context());
        Assert.True(result!.Outcome == RollbackOutcome.Succeeded, result.Message + string.Join('\n', result.Steps.Select(s => s.Message + s.Output)));
        Assert.Equal(new[] { EfCoreProject.InitialCreate }, EfCoreProject.History(project.Database));
        project.Migrate(EfCoreProject.AddNote);
    }

    [RequiresFact(Component.EfCore)]
    public async Task One_dotnet_ef_start_teaches_the_ef_dll_invocation_which_the_next_runs_use_until_the_project_changes()
    {
        using var project = new EfCoreProject(EfCoreProject.AddNote);
        var (dotnet, log) = Wrapper(project.Git.Temp.Path);

        // First run: the list through dotnet ef; the plan's script and the downgrade through ef.dll (the list after it is
        // read from the SQLite history table).
        await RollBackAsync(project, dotnet);
        Assert.Equal((1, 2), Calls(log));
        var kept = Assert.Single(Directory.GetFiles(Path.Combine(project.Git.StatePath, "cache"), "efcore-*.json"));

        // The next run (a new process would do the same: the invocation is read from the state folder).
        await RollBackAsync(project, dotnet);
        Assert.Equal((0, 3), Calls(log));

        // A damaged file is ignored and written again.
        File.WriteAllText(kept, "{ not json");
        await RollBackAsync(project, dotnet);
        Assert.Equal(1, Calls(log).DotnetEf);
        Assert.NotNull(JsonNode.Parse(File.ReadAllText(kept)));

        // ef.dll that does not start (here: the kept path names a file that is no assembly): dotnet ef again, then direct.
        var invocation = JsonNode.Parse(File.ReadAllText(kept))!;
        var exec = invocation["ExecArguments"]!.AsArray();
        var notAnAssembly = project.Git.Temp.Combine("ef.dll");
        File.WriteAllText(notAnAssembly, "not an assembly");
        exec[exec.Count - 1] = notAnAssembly;
        File.WriteAllText(kept, invocation.ToJsonString());
        await RollBackAsync(project, dotnet);
        Assert.Equal((1, 3), Calls(log));
        Assert.DoesNotContain(notAnAssembly, File.ReadAllText(kept));

        // The project file changed (its build still current): its MSBuild evaluation may differ, so dotnet ef once more.
        var csproj = Path.Combine(project.Folder, "EfCoreApp.csproj");
        var written = File.GetLastWriteTimeUtc(csproj);
        File.AppendAllText(csproj, "\n<!-- changed -->\n");
        File.SetLastWriteTimeUtc(csproj, written);
        await RollBackAsync(project, dotnet);
        Assert.Equal(1, Calls(log).DotnetEf);
        await RollBackAsync(project, dotnet);
        Assert.Equal(0, Calls(log).DotnetEf);
    }
}
