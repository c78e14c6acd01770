using System.Text.RegularExpressions;
using DeploymentRollback.Engine;
using Xunit;

namespace DeploymentRollback.Tests.Unit;

/// <summary>The architecture, checked: Core knows strategies only through the catalog and the session contract.</summary>
public class LayoutTests
{
    private static string Source(params string[] parts)
    {
        var folder = new DirectoryInfo(AppContext.BaseDirectory);
        while (folder is not null && !Directory.Exists(Path.Combine(folder.FullName, "src", "Engine", "Core")))
        {
            folder = folder.Parent;
        }

        Assert.NotNull(folder);
        return Path.Combine(new[] { folder!.FullName, "src" }.Concat(parts).ToArray());
    }

    // Comments may say "a Git tag"; code may not name a strategy, its record, session or folder.
    private static string CodeOf(string file) =>
        Regex.Replace(File.ReadAllText(file), @"//[^\n]*|/\*.*?\*/", "", RegexOptions.Singleline);

    [Fact]
    public void No_file_in_Core_names_a_strategy()
    {
        var names = string.Join("|", StrategyRegistry.Names);
        var naming = new Regex($@"(?<![.\w])({names})(Target|Session|Parameters)?(?![\w(])");
        var files = Directory.EnumerateFiles(Source("Engine", "Core"), "*.cs", SearchOption.AllDirectories).ToList();

        var found = files.SelectMany(f => naming.Matches(CodeOf(f)).Select(m => $"{Path.GetFileName(f)}: {m.Value}")).ToList();

        Assert.True(files.Count > 20, "the Core folder was not found where expected");
        Assert.Empty(found);
    }

    [Fact]
    public void No_strategy_uses_another_strategys_folder()
    {
        var strategies = Source("Engine", "Strategies");
        var folders = Directory.GetDirectories(strategies).Select(Path.GetFileName).ToList();
        var crossings = new List<string>();
        foreach (var folder in folders)
        {
            foreach (var file in Directory.EnumerateFiles(Path.Combine(strategies, folder!), "*.cs"))
            {
                var code = CodeOf(file);
                // Docker is the shared Docker client folder, which Container and DockerCompose both use.
                crossings.AddRange(folders.Where(other => other != folder && other != "Docker" && Regex.IsMatch(code, $@"\bEngine\.{other}\b|\b{other}Session\b"))
                    .Select(other => $"{folder}/{Path.GetFileName(file)} uses {other}"));
            }
        }

        Assert.Contains("Docker", folders);
        Assert.Empty(crossings);
    }

    [Fact]
    public void Every_catalog_strategy_has_a_target_record_named_after_it()
    {
        Assert.Equal(StrategyRegistry.Names, StrategyRegistry.TargetTypes.Select(DeploymentTarget.StrategyOf));
        Assert.All(StrategyRegistry.TargetTypes, t => Assert.Equal(typeof(DeploymentTarget).Assembly, t.Assembly));
        Assert.Equal(StrategyRegistry.Names.Count, StrategyRegistry.Names.Distinct().Count());
    }

    [Fact]
    public void Every_strategy_has_its_folder_its_integration_tests_and_its_help_topic()
    {
        var root = Path.GetDirectoryName(Source())!;

        Assert.All(StrategyRegistry.Names, name =>
        {
            Assert.True(Directory.Exists(Source("Engine", "Strategies", name)), $"src/Engine/Strategies/{name}/ is missing");
            Assert.True(File.Exists(Source("Cmdlets", "Parameters", name + "Parameters.cs")), $"src/Cmdlets/Parameters/{name}Parameters.cs is missing");
            Assert.True(Directory.EnumerateFiles(Path.Combine(root, "tests", "Integration", name), "*Tests.cs").Any(), $"tests/Integration/{name}/ has no tests");
            Assert.True(File.Exists(Path.Combine(root, "docs", $"about_DeploymentRollback_{name}.md")), $"docs/about_DeploymentRollback_{name}.md is missing");
        });
    }
}
