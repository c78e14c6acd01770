using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace EfCoreApp.Migrations
{
    /// <inheritdoc />
    public partial class AddNote : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddColumn<string>(
                name: "Note",
                table: "orders",
                nullable: true);
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropColumn(
                name: "Note",
                table: "orders");
            // EFCOREAPP_SLOW_DOWN=<folder> (tests only): the reverse step writes a few seconds' worth of rows and
            // drops them, and each time Down is asked for its operations a file says so, for a test to kill the
            // process that runs it.
            if (Environment.GetEnvironmentVariable("EFCOREAPP_SLOW_DOWN") is { Length: > 0 } folder)
            {
                File.WriteAllText(Path.Combine(folder, $"down-{Guid.NewGuid():N}"), "");
                migrationBuilder.Sql("CREATE TABLE slow_down AS WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 3000000) SELECT x, hex(randomblob(16)) AS y FROM c;");
                migrationBuilder.Sql("DROP TABLE slow_down;");
            }
        }
    }
}
