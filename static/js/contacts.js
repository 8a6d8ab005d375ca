// The Contacts page: "/" focuses the search (unless the agent is typing somewhere), as in the inbox.
(() => {
  const search = document.getElementById("contacts-q");
  if (!search) return;
  document.addEventListener("keydown", (event) => {
    if (event.key !== "/" || event.ctrlKey || event.metaKey || event.altKey) return;
    const target = event.target;
    if (target instanceof HTMLElement && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName))) return;
    event.preventDefault();
    search.focus();
    search.select();
  });
})();
