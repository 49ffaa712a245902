// An ES module: it runs only when the server sends it as text/javascript,
// so the status line on the home page doubles as a MIME check.

const status = document.querySelector("#module-status");
if (status) {
  status.textContent = "JavaScript module loaded";
  status.dataset.state = "ok";
}

const list = document.querySelector("#sample-data");
if (list) {
  try {
    const response = await fetch("/downloads/sample.json");
    const data = await response.json();
    for (const planet of data.planets) {
      const item = document.createElement("li");
      item.textContent = `${planet.name}: ${planet.moons} moon${planet.moons === 1 ? "" : "s"}`;
      list.append(item);
    }
  } catch (error) {
    list.textContent = `Could not load sample.json (${error})`;
  }
}
