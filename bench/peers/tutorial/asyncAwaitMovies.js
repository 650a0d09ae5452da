// The tutorial's async/await program ("How To Write Asynchronous Code in Node.js"), as
// written there, but for the API's address, taken from GHIBLI_API_URL as the C version does.
const axios = require('axios');
const fs = require('fs').promises;

const api = process.env.GHIBLI_API_URL || 'https://ghibliapi.vercel.app';

async function saveMovies() {
    try {
        let response = await axios.get(`${api}/films`);
        let movieList = '';
        response.data.forEach(movie => {
            movieList += `${movie['title']}, ${movie['release_date']}\n`;
        });
        await fs.writeFile('asyncAwaitMovies.csv', movieList);
    } catch (error) {
        console.error(`Could not save the Ghibli movies to a file: ${error}`);
    }
}

saveMovies();
