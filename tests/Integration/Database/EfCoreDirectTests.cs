using System.Text.Json.Nodes;
using DeploymentRollback.Engine;
using DeploymentRollback.Engine.Database;
using Microsoft.Data.Sqlite;
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
        File.WriteAllText(path, $"#!/bin/sh\ncase \"$*\" in *DeploymentRollback.EfCoreHelper.dll*) echo helper >> '{log}';; *) echo \"$1 $2\" >> '{log}';; esac\nexec dotnet \"$@\"\n");
        File.SetUnixFileMode(path, File.GetUnixFileMode(path) | UnixFileMode.UserExecute);
        return (path, log);
    }

    /// <summary>
    /// The calls since the last look: how many went through dotnet ef, how many started ef.dll directly, and how many
    /// started the module's helper that runs ef.dll's commands in one process.
    /// </summary>
    private static (int DotnetEf, int Direct, int Helper) Calls(string log)
    {
        var lines = File.Exists(log) ? File.ReadAllLines(log) : Array.Empty<string>();
        File.Delete(log);
        return (lines.Count(l => l.StartsWith("ef ", StringComparison.Ordinal)), lines.Count(l => l.StartsWith("exec ", StringComparison.Ordinal)), lines.Count(l => l == "helper"));
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

        // First run: the list through dotnet ef; the plan's script and the downgrade in one helper process that runs
        // ef.dll's commands (the list after it is read from the SQLite history table).
        await RollBackAsync(project, dotnet);
        Assert.Equal((1, 0, 1), Calls(log));
        var kept = Assert.Single(Directory.GetFiles(Path.Combine(project.Git.StatePath, "cache"), "efcore-*.json"));

        // The next run (a new process would do the same: the invocation is read from the state folder).
        // The list, the script and the downgrade, all in one helper.
        await RollBackAsync(project, dotnet);
        Assert.Equal((0, 0, 1), Calls(log));

        // A damaged file is ignored and written again.
        File.WriteAllText(kept, "{ not json");
        await RollBackAsync(project, dotnet);
        Assert.Equal(1, Calls(log).DotnetEf);
        Assert.NotNull(JsonNode.Parse(File.ReadAllText(kept)));

        // ef.dll that does not start (here: the kept path names a file that is no assembly): the helper cannot load it
        // and ef.dll started directly fails, so dotnet ef again, then a helper with the invocation it taught.
        var invocation = JsonNode.Parse(File.ReadAllText(kept))!;
        var exec = invocation["ExecArguments"]!.AsArray();
        var notAnAssembly = project.Git.Temp.Combine("ef.dll");
        File.WriteAllText(notAnAssembly, "not an assembly");
        exec[exec.Count - 1] = notAnAssembly;
        File.WriteAllText(kept, invocation.ToJsonString());
        await RollBackAsync(project, dotnet);
        Assert.Equal((1, 1, 2), Calls(log));
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

    [RequiresFact(Component.EfCore)]
    public async Task The_helper_reads_the_database_file_as_it_is_at_each_command_not_a_pooled_connection_to_the_one_before()
    {
        using var project = new EfCoreProject(EfCoreProject.AddNote);
        await RollBackAsync(project, "dotnet");
        var csproj = Path.Combine(project.Folder, "EfCoreApp.csproj");
        var kept = Assert.Single(Directory.GetFiles(Path.Combine(project.Git.StatePath, "cache"), "efcore-*.json"));
        var known = Assert.IsType<EfCoreDirect>(EfCoreDirect.Load(kept, EfCoreDirect.KeyOf(csproj, "dotnet")));
        var dll = Path.Combine(Path.GetDirectoryName(typeof(ToolHelper).Assembly.Location)!, "DeploymentRollback.EfCoreHelper.dll");
        var (started, whyNot) = await ToolHelper.StartAsync("dotnet", known.HelperArguments(dll), null, project.Folder, null, CancellationToken.None);
        await using var helper = Assert.IsType<ToolHelper>(started, exactMatch: false);
        Assert.Null(whyNot);
        var list = new JsonObject { ["command"] = new JsonArray(known.ToolArguments(new[] { "migrations", "list", "--json" }).Select(a => (JsonNode?)a).ToArray()) };
        async Task<string[]> AppliedAsync()
        {
            var run = await helper.RunAsync((JsonObject)list.DeepClone(), TimeSpan.FromMinutes(2), CancellationToken.None);
            Assert.True(run.ExitCode == 0, run.CombinedOutput);
            return EfCoreText.MigrationsList(string.Join('\n', EfCoreText.Lines(run.StandardOutput, "data"))).Where(m => m.Applied == true).Select(m => m.Id).ToArray();
        }

        Assert.Equal(new[] { EfCoreProject.InitialCreate, EfCoreProject.AddNote }, await AppliedAsync());

        // The file replaced by another (as a restore from a checkpoint replaces it): a copy without AddNote, renamed over it.
        var copy = project.Git.Temp.Combine("restored.db");
        File.Copy(project.Database, copy);
        using (var connection = new SqliteConnection($"Data Source={copy};Pooling=False"))
        {
            connection.Open();
            using var delete = connection.CreateCommand();
            delete.CommandText = $"DELETE FROM \"__EFMigrationsHistory\" WHERE \"MigrationId\" = '{EfCoreProject.AddNote}'";
            Assert.Equal(1, delete.ExecuteNonQuery());
        }

        File.Move(copy, project.Database, overwrite: true);
        Assert.Equal(new[] { EfCoreProject.InitialCreate }, await AppliedAsync());
    }
}
